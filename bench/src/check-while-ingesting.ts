import { randomBytes } from 'node:crypto';
import { type BatchLoadResult, runBatchLoad } from './batch-load.js';
import { startCpuBurner } from './cpu-burner.js';
import { startCpuMeter } from './cpu-meter.js';
import { eventBatchBody } from './event-batches.js';
import { type LoadResult, type LoadSettings, runLoad } from './http-load.js';
import { checkRequest, meteredEventType } from './keymaster-api.js';
import { startSeededKeymaster } from './seeded-server.js';
import { round } from './stats.js';

export interface IngestingRun {
  /** Whose usage the events feed: the customers being checked, or as many others. */
  events: 'checked customers' | 'other customers';
  /** null when the check load failed: checks starved past autocannon's 10 s timeout. */
  checks: LoadResult | null;
  failure: string | null;
  ingestion: BatchLoadResult;
  /** Check req/s of the checks alone just before and just after this run, averaged. */
  baseline: number;
  /** Check req/s over `baseline` (0 when the checks failed). */
  ratio: number;
}

/**
 * The control: the checks again while a process unrelated to Keymaster asks for as much CPU as
 * the ingestion took (measured alone at the same rate, server and client together). A ratio near
 * the ingesting runs' says that ingestion costs the checks its CPU and nothing more: no lock,
 * no stall of the event loop, no storm of cache misses.
 */
export interface CpuControlRun {
  /** What ingesting alone at the benchmark's rate took, server and its client, % of one core. */
  ingestionCpuPercent: number;
  /** What the burner got while the checks ran, % of one core. */
  burnerCpuPercent: number;
  checks: LoadResult;
  /** As in IngestingRun. */
  baseline: number;
  ratio: number;
}

export interface CheckWhileIngestingResult {
  customers: number;
  batchSize: number;
  batchesPerSecond: number;
  /**
   * The checks with nothing else running, before the first run and after each: the VM's speed
   * drifts within a benchmark (once by 40 % over two minutes), so each run is compared with the
   * checks alone on either side of it, not with one taken minutes earlier.
   */
  alone: LoadResult[];
  runs: IngestingRun[];
  control: CpuControlRun;
}

/**
 * Check throughput (the HTTP check load of benchmark 1, warm cache) alone, then while a steady
 * stream of event batches is ingested by the same server: into the very customers being checked
 * (each batch updates their usage counters, which drops their cached snapshots) and into as many
 * other customers (the pure cost of sharing the process with ingestion). The ratios compare each
 * with the run alone, in the same process on the same data.
 */
export async function benchCheckWhileIngesting(input: {
  settings: LoadSettings;
  customers: number;
  batchSize: number;
  batchesPerSecond: number;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<CheckWhileIngestingResult> {
  const { server, api, ids } = await startSeededKeymaster({
    ...input,
    target: { database: 'sqlite' },
    customers: input.customers * 2,
  });
  try {
    const checked = ids.slice(0, input.customers);
    const others = ids.slice(input.customers);
    const requests = checked.map(checkRequest);
    for (const request of requests) await api.call('POST', request.path, JSON.parse(request.body));
    const checks = () =>
      runLoad({
        url: server.url,
        requests,
        headers: api.headers,
        settings: input.settings,
        serverCpuMicros: server.cpuMicros,
      });

    /** Takes the checks alone again and answers the last run's baseline and ratio. */
    const bracket = async (requestsPerSecond: number | null) => {
      input.log('checks alone');
      alone.push(await checks());
      const baseline = (alone.at(-2)!.requestsPerSecond + alone.at(-1)!.requestsPerSecond) / 2;
      return {
        baseline: Math.round(baseline),
        ratio: requestsPerSecond === null ? 0 : round(requestsPerSecond / baseline),
      };
    };
    /** The benchmark's paced ingestion into `customers`, from 2 clients, new events only. */
    const ingest = (
      customers: readonly string[],
      timing: { warmupSeconds: number; durationSeconds: number },
      until?: Promise<void>,
    ) => {
      const spec = {
        runId: randomBytes(4).toString('hex'),
        customers,
        size: input.batchSize,
        type: meteredEventType,
        duplicateShare: 0,
      };
      return runBatchLoad({
        url: server.url,
        path: '/v1/events',
        headers: api.headers,
        body: (sequence) => eventBatchBody(spec, sequence),
        settings: { clients: 2, ...timing, batchesPerSecond: input.batchesPerSecond },
        serverCpuMicros: server.cpuMicros,
        until,
      });
    };
    // Ingestion's threads start at the first batch, and the planning thread's cache fills as it
    // meets each customer: both before anything is measured, as on a server that has been taking
    // events a while.
    input.log('ingestion warm-up: 1 s into each set of customers');
    for (const customers of [checked, others]) await ingest(customers, { warmupSeconds: 0, durationSeconds: 1 });
    input.log('checks alone');
    const alone: LoadResult[] = [await checks()];
    const runs: IngestingRun[] = [];
    // A-B-B-A: each kind once early and once late, so that neither gains from coming first or
    // from the VM's drift across the run; the report gives each kind's mean.
    const order = ['checked customers', 'other customers', 'other customers', 'checked customers'] as const;
    for (const events of order) {
      input.log(`checks while ingesting ${input.batchesPerSecond} batches/s into ${events}`);
      let done: () => void = () => undefined;
      const until = new Promise<void>((resolve) => {
        done = resolve;
      });
      // Until the checks are done.
      const ingesting = ingest(
        events === 'checked customers' ? checked : others,
        { warmupSeconds: 0, durationSeconds: 3_600 },
        until,
      );
      // Checks that time out behind ingestion are a result, not a broken benchmark: record them.
      const result = await checks().then(
        (load) => ({ load, failure: null }),
        (error: unknown) => ({ load: null, failure: error instanceof Error ? error.message : String(error) }),
      );
      done();
      const ingestion = await ingesting;
      runs.push({
        events,
        checks: result.load,
        failure: result.failure,
        ingestion,
        ...(await bracket(result.load?.requestsPerSecond ?? null)),
      });
    }
    input.log(`ingestion alone, ${input.batchesPerSecond} batches/s: the CPU it takes`);
    const ingestionAlone = await ingest(others, {
      warmupSeconds: input.settings.warmupSeconds,
      durationSeconds: input.settings.durationSeconds,
    });
    const ingestionCpuPercent = round(ingestionAlone.serverCpuPercent + ingestionAlone.loaderCpuPercent);
    input.log(`checks while another process asks for ${ingestionCpuPercent}% of a core`);
    const burner = await startCpuBurner(ingestionCpuPercent);
    let burned: { load: LoadResult; cpuPercent: number };
    try {
      const meter = await startCpuMeter(burner.cpuMicros);
      const load = await checks();
      burned = { load, cpuPercent: (await meter.stop()).serverCpuPercent };
    } finally {
      await burner.stop();
    }
    const control: CpuControlRun = {
      ingestionCpuPercent,
      burnerCpuPercent: burned.cpuPercent,
      checks: burned.load,
      ...(await bracket(burned.load.requestsPerSecond)),
    };
    return {
      customers: input.customers,
      batchSize: input.batchSize,
      batchesPerSecond: input.batchesPerSecond,
      alone,
      runs,
      control,
    };
  } finally {
    await server.stop();
  }
}
