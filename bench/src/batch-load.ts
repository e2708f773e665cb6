import { Agent, request } from 'node:http';
import { type CpuShares, startCpuMeter } from './cpu-meter.js';
import { percentile, round } from './stats.js';

export interface BatchLoadSettings {
  /** Requests in flight at once, each client sending its next batch when the last has answered. */
  clients: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** Caps the batches started per second across all clients (background load); none: flat out. */
  batchesPerSecond?: number | undefined;
}

/** What the server answered `POST /v1/events`, summed over a run. */
export interface IngestCounts {
  accepted: number;
  duplicates: number;
  rejected: number;
}

export interface BatchLoadResult extends IngestCounts, CpuShares {
  batches: number;
  seconds: number;
  /** Events answered (accepted + duplicates) per second over the measured run. */
  eventsPerSecond: number;
  /** Request round trips, in milliseconds. */
  latencyMs: { p50: number; p99: number };
}

/**
 * Ingestion load: `clients` keep-alive connections each posting the next body from `body` as
 * soon as their last request has answered (a batch answers only once it is durable, so this is
 * closed-loop, like an exporter with that many workers). Sequence numbers are shared by all
 * clients and never reused within a run, warm-up included. Any non-200 answer or rejected event
 * fails the run.
 */
export async function runBatchLoad(input: {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: (sequence: number) => string;
  settings: BatchLoadSettings;
  serverCpuMicros: () => Promise<number>;
  /** Stops the run early (before durationSeconds) when it resolves: for background load. */
  until?: Promise<unknown>;
}): Promise<BatchLoadResult> {
  const { settings } = input;
  const agent = new Agent({ keepAlive: true, maxSockets: settings.clients });
  let sequence = 0;
  try {
    if (settings.warmupSeconds > 0) {
      await drive({ ...input, agent, seconds: settings.warmupSeconds, next: () => sequence++ });
    }
    const cpu = await startCpuMeter(input.serverCpuMicros);
    const started = performance.now();
    const run = await drive({ ...input, agent, seconds: settings.durationSeconds, next: () => sequence++ });
    const seconds = (performance.now() - started) / 1000;
    const shares = await cpu.stop();
    const { counts, latencies } = run;
    return {
      batches: latencies.length,
      ...counts,
      seconds: round(seconds),
      eventsPerSecond: round((counts.accepted + counts.duplicates) / seconds),
      latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
      ...shares,
    };
  } finally {
    agent.destroy();
  }
}

async function drive(input: {
  url: string;
  path: string;
  headers: Record<string, string>;
  body: (sequence: number) => string;
  settings: BatchLoadSettings;
  agent: Agent;
  seconds: number;
  next: () => number;
  until?: Promise<unknown>;
}) {
  const counts: IngestCounts = { accepted: 0, duplicates: 0, rejected: 0 };
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + input.seconds * 1000;
  let stopped = false;
  void input.until?.then(() => {
    stopped = true;
  });
  const interval = input.settings.batchesPerSecond ? 1000 / input.settings.batchesPerSecond : 0;
  let nextStart = started;
  const client = async () => {
    for (;;) {
      if (interval > 0) {
        // Paced: each batch takes the next slot; a client that is early waits for it.
        const slot = nextStart;
        nextStart += interval;
        const wait = slot - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      }
      if (stopped || performance.now() >= deadline) return;
      const body = input.body(input.next());
      const sent = performance.now();
      const answer = await post({ ...input, body });
      latencies.push(performance.now() - sent);
      if (answer.rejected.length > 0) {
        throw new Error(`${answer.rejected.length} events rejected, first: ${JSON.stringify(answer.rejected[0])}`);
      }
      counts.accepted += answer.accepted;
      counts.duplicates += answer.duplicates;
    }
  };
  await Promise.all(Array.from({ length: input.settings.clients }, client));
  return { counts, latencies };
}

function post(input: {
  url: string;
  path: string;
  headers: Record<string, string>;
  agent: Agent;
  body: string;
}): Promise<{ accepted: number; duplicates: number; rejected: unknown[] }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(input.path, input.url),
      { method: 'POST', headers: input.headers, agent: input.agent },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200) {
            reject(new Error(`${input.path}: ${response.statusCode} ${text.slice(0, 500)}`));
            return;
          }
          resolve(JSON.parse(text));
        });
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(input.body);
  });
}
