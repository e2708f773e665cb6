import { randomBytes } from 'node:crypto';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { type CpuShares, startCpuMeter } from './cpu-meter.js';
import { round } from './stats.js';

/** One HTTP request the load generator sends in turn with the others, encoded once up front. */
export interface RequestSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  body?: string;
}

/** The same settings are used for a subject and its baseline: only the server differs. */
export interface LoadSettings {
  connections: number;
  pipelining: number;
  durationSeconds: number;
  /** A run of the same shape before the measured one, whose figures are thrown away. */
  warmupSeconds: number;
}

export interface LoadResult extends CpuShares {
  /** Successful (2xx) responses per second over the measured run. */
  requestsPerSecond: number;
  requests: number;
  /** From autocannon, which records latency in whole milliseconds. */
  latencyMs: { mean: number; p50: number; p99: number };
}

/**
 * Drives `url` with autocannon from this process and measures how busy both sides were: a server
 * below ~95% CPU while the loader is at ~100% means the load generator, not the server, set the
 * pace, and the figure is a floor. Any error, timeout or non-2xx answer fails the run, so a
 * throughput figure is never made of refusals.
 */
export async function runLoad(input: {
  url: string;
  requests: readonly RequestSpec[];
  headers: Record<string, string>;
  settings: LoadSettings;
  serverCpuMicros: () => Promise<number>;
  /** Called between the warm-up and the measured run (e.g. to read counters the run will move). */
  beforeMeasured?: () => Promise<void>;
  /**
   * Replace `[<id>]` in each request's body with a new id every time it is sent (`<run>-<n>`,
   * unique over every connection), so that a write changes something every time. Such requests
   * are encoded as they go, at some CPU to the loader. (autocannon's own `idReplacement` is not
   * used: it assumes an id length its id generator no longer has, and sends a wrong Content-Length.)
   */
  uniqueIds?: boolean;
  /**
   * Send `requests` in one turn shared by every connection, each request the next of the list,
   * instead of each connection walking the list from its first: otherwise the connections move
   * through it in step, and at any moment most of them send the same few entries (for writes to
   * many customers, a hot spot moving over a few rows rather than load spread over all of them).
   * Encoded as they go, like `uniqueIds`.
   */
  spread?: boolean;
}): Promise<LoadResult> {
  const { settings } = input;
  const tag = randomBytes(4).toString('hex');
  let sent = 0;
  const fresh = (r: RequestSpec): AutocannonRequest => {
    const body = r.body;
    if (!input.uniqueIds || body === undefined || !body.includes('[<id>]')) return { ...r };
    return { ...r, setupRequest: (request) => ({ ...request, body: body.replaceAll('[<id>]', `${tag}-${sent++}`) }) };
  };
  let turn = 0;
  const spread = (): AutocannonRequest[] => [
    {
      setupRequest: (request) => {
        const next = fresh(input.requests[turn++ % input.requests.length]!);
        const outgoing = { ...request, method: next.method, path: next.path, body: next.body };
        return next.setupRequest ? next.setupRequest(outgoing, {}) : outgoing;
      },
    },
  ];
  // autocannon writes its encoded buffers into the request objects: hand each run its own copies.
  const run = (duration: number) =>
    autocannon({
      url: input.url,
      connections: settings.connections,
      pipelining: settings.pipelining,
      headers: input.headers,
      requests: input.spread ? spread() : input.requests.map(fresh),
      duration,
    });
  if (settings.warmupSeconds > 0) await run(settings.warmupSeconds);
  await input.beforeMeasured?.();

  const cpu = await startCpuMeter(input.serverCpuMicros);
  const result = await run(settings.durationSeconds);
  const shares = await cpu.stop();

  const failures = result.errors + result.timeouts + result.non2xx;
  if (failures > 0 || result['2xx'] === 0) {
    throw new Error(
      `load run against ${input.url} failed: ${result['2xx']} ok, ${result.non2xx} non-2xx, ` +
        `${result.errors} errors, ${result.timeouts} timeouts`,
    );
  }
  return {
    requestsPerSecond: round(result['2xx'] / result.duration),
    requests: result['2xx'],
    latencyMs: { mean: round(result.latency.mean), p50: result.latency.p50, p99: result.latency.p99 },
    ...shares,
  };
}
