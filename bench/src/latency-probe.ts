import { Agent, request } from 'node:http';
import type { RequestSpec } from './http-load.js';
import { mean, percentile, round } from './stats.js';

export interface LatencyResult {
  samples: number;
  /** Round-trip times in microseconds, client parsing included. */
  meanUs: number;
  p50Us: number;
  p99Us: number;
}

/**
 * Latency with nothing queued: one keep-alive connection, one request at a time, each timed with
 * a microsecond clock (autocannon only resolves whole milliseconds). With `durationSeconds` it
 * cycles through `requests` until the time is up; without, it sends each request once.
 */
export async function probeLatency(input: {
  url: string;
  requests: readonly RequestSpec[];
  headers: Record<string, string>;
  durationSeconds?: number;
}): Promise<LatencyResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const timesUs: number[] = [];
  const deadline = input.durationSeconds === undefined ? undefined : performance.now() + input.durationSeconds * 1000;
  try {
    for (let i = 0; ; i++) {
      if (deadline === undefined ? i >= input.requests.length : performance.now() >= deadline) break;
      const spec = input.requests[i % input.requests.length]!;
      const started = performance.now();
      await send({ url: input.url, spec, headers: input.headers, agent });
      timesUs.push((performance.now() - started) * 1000);
    }
  } finally {
    agent.destroy();
  }
  return {
    samples: timesUs.length,
    meanUs: round(mean(timesUs)),
    p50Us: round(percentile(timesUs, 50)),
    p99Us: round(percentile(timesUs, 99)),
  };
}

function send(input: { url: string; spec: RequestSpec; headers: Record<string, string>; agent: Agent }) {
  return new Promise<void>((resolve, reject) => {
    const req = request(
      new URL(input.spec.path, input.url),
      { method: input.spec.method, headers: input.headers, agent: input.agent },
      (response) => {
        response.resume();
        response.on('end', () =>
          response.statusCode === 200 ? resolve() : reject(new Error(`${input.spec.path}: ${response.statusCode}`)),
        );
        response.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(input.spec.body);
  });
}
