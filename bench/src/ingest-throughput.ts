import { randomBytes } from 'node:crypto';
import { type BatchLoadResult, type BatchLoadSettings, runBatchLoad } from './batch-load.js';
import { eventBatchBody } from './event-batches.js';
import { meteredEventType } from './keymaster-api.js';
import { type PgIngestBaselineResult, pgIngestBaseline } from './pg-ingest-baseline.js';
import { type BenchDatabase, type DatabaseChoice, startSeededKeymaster } from './seeded-server.js';

export interface IngestPoint {
  database: BenchDatabase;
  /**
   * unique: every event new, ids in order (see EventBatchSpec.ids); random-ids: every event new,
   * ids random UUIDs; duplicates: `duplicateShare` of each batch seen before.
   */
  variant: 'unique' | 'random-ids' | 'duplicates';
  duplicateShare: number;
  load: BatchLoadResult;
  /**
   * PostgreSQL, every event new: the same batches stored by `pg` directly in the same run
   * (pg-ingest-baseline.ts), which `load` is a share of.
   */
  baseline?: PgIngestBaselineResult | undefined;
}

export interface IngestThroughputResult {
  customers: number;
  batchSize: number;
  settings: BatchLoadSettings;
  points: IngestPoint[];
}

/**
 * `POST /v1/events` over HTTP, 1,000-event batches of new ids (idempotency on: every event goes
 * through the `(source, id)` key) spread over many customers, from several concurrent clients;
 * then the same with most of each batch repeated. Every event feeds the `api_calls` meter, so
 * each batch also updates a usage counter per customer it touches. New ids come in order (as
 * time-ordered ids do), then as random UUIDs, into the table the first run filled.
 */
export async function benchIngestThroughput(input: {
  targets: readonly DatabaseChoice[];
  customers: number;
  batchSize: number;
  duplicateShare: number;
  settings: BatchLoadSettings;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<IngestThroughputResult> {
  const points: IngestPoint[] = [];
  for (const target of input.targets) {
    const { server, api, ids } = await startSeededKeymaster({ ...input, target });
    try {
      for (const variant of ['unique', 'random-ids', 'duplicates'] as const) {
        const duplicateShare = variant === 'duplicates' ? input.duplicateShare : 0;
        const spec = {
          runId: randomBytes(4).toString('hex'),
          customers: ids,
          size: input.batchSize,
          type: meteredEventType,
          duplicateShare,
          ids: variant === 'random-ids' ? ('random' as const) : ('ordered' as const),
        };
        input.log(
          `${target.database}, ${variant}: ${input.settings.clients} clients, ` +
            `${input.settings.warmupSeconds} s warm-up + ${input.settings.durationSeconds} s`,
        );
        const load = await runBatchLoad({
          url: server.url,
          path: '/v1/events',
          headers: api.headers,
          body: (sequence) => eventBatchBody(spec, sequence),
          settings: input.settings,
          serverCpuMicros: server.cpuMicros,
        });
        let baseline: PgIngestBaselineResult | undefined;
        if (target.database === 'postgres' && variant !== 'duplicates') {
          input.log(`postgres, ${variant}: the same batches through pg alone (baseline)`);
          baseline = await pgIngestBaseline({
            url: target.url,
            customers: ids,
            batchSize: input.batchSize,
            ids: spec.ids,
            clients: input.settings.clients,
            warmupSeconds: input.settings.warmupSeconds,
            durationSeconds: input.settings.durationSeconds,
          });
        }
        points.push({ database: target.database, variant, duplicateShare, load, baseline });
      }
    } finally {
      await server.stop();
    }
  }
  return { customers: input.customers, batchSize: input.batchSize, settings: input.settings, points };
}
