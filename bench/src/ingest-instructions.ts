import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { countInstructions } from './check-instructions.js';
import { eventBatchBody } from './event-batches.js';
import { customerId, keymasterApi, meteredEventType, seedCatalog, seedCustomers } from './keymaster-api.js';

export interface IngestInstructionsResult {
  customers: number;
  batchSize: number;
  /** Batches counted, after `warmupBatches` uncounted ones. */
  batches: number;
  warmupBatches: number;
  /** Instructions per event on the main thread: the HTTP exchange. */
  mainThreadPerEvent: number;
  /** On the busiest other thread: on SQLite, the one writing the batches. */
  writerThreadPerEvent: number;
  /** On the next busiest: the one reading and metering the batches into plans. */
  plannerThreadPerEvent: number;
  allThreadsPerEvent: number;
}

/**
 * `POST /v1/events` counted, not timed (see check-instructions.ts): Keymaster on SQLite under
 * callgrind takes 1,000-event batches of new events over many customers from two clients, and the
 * instructions each thread executes are divided by the events counted. The main thread takes the
 * requests, a planning thread reads and meters the batches, and a third writes them
 * (modules/events/ingester.ts): the busiest bounds the throughput, and each count shows whether a
 * change made its part cheaper. The two worker threads are told apart by their counts: writing
 * costs SQLite more than planning costs (about 53k against 20k instructions an event).
 */
export async function benchIngestInstructions(input: {
  customers: number;
  batchSize: number;
  batches: number;
  warmupBatches: number;
  log: (line: string) => void;
}): Promise<IngestInstructionsResult | undefined> {
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    input.log('valgrind is not installed (apt-get install -y valgrind): instruction counts skipped');
    return undefined;
  }
  const adminKey = `km_sk_bench_${randomBytes(12).toString('hex')}`;
  const ids = Array.from({ length: input.customers }, (_, i) => customerId(i));
  const spec = {
    runId: randomBytes(4).toString('hex'),
    customers: ids,
    size: input.batchSize,
    type: meteredEventType,
    duplicateShare: 0,
  };
  let url = '';
  let sequence = 0;
  const send = async (batches: number) => {
    let left = batches;
    const client = async () => {
      while (left-- > 0) {
        const response = await fetch(`${url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
          body: eventBatchBody(spec, sequence++),
        });
        const text = await response.text();
        if (response.status !== 200) throw new Error(`POST /v1/events answered ${response.status}: ${text}`);
      }
    };
    await Promise.all([client(), client()]);
  };
  input.log(`keymaster (SQLite) under callgrind: ${input.warmupBatches} batches to warm up, ${input.batches} counted`);
  const counts = await countInstructions({
    script: 'keymaster-server',
    env: { KEYMASTER_ADMIN_KEY: adminKey, LOG_LEVEL: 'warn' },
    async prepare(server) {
      url = server.url;
      const api = keymasterApi({ url, adminKey });
      await seedCatalog(api);
      await seedCustomers({ api, ids, plan: 'pro', concurrency: 4 });
    },
    warmUp: () => send(input.warmupBatches),
    work: () => send(input.batches),
  });
  const events = input.batches * input.batchSize;
  return {
    customers: input.customers,
    batchSize: input.batchSize,
    batches: input.batches,
    warmupBatches: input.warmupBatches,
    mainThreadPerEvent: Math.round(counts.main / events),
    writerThreadPerEvent: Math.round((counts.others[0] ?? 0) / events),
    plannerThreadPerEvent: Math.round((counts.others[1] ?? 0) / events),
    allThreadsPerEvent: Math.round(counts.all / events),
  };
}
