import { startServer } from './child-server.js';
import { type LoadResult, type LoadSettings, runLoad } from './http-load.js';
import { consumeRequest, customerId, largeLimitGrant } from './keymaster-api.js';
import { type BenchDatabase, type DatabaseChoice, startSeededKeymaster } from './seeded-server.js';

export interface ConsumePoint {
  database: BenchDatabase;
  /** How many customers the consumes rotate over: 1 is one hot counter row. */
  customers: number;
  load: LoadResult;
}

export interface ConsumeThroughputResult {
  settings: LoadSettings;
  points: ConsumePoint[];
  /**
   * The bare node:http server of the check benchmark under the same load shape and request bytes:
   * the most any HTTP endpoint on node:http gets out of this machine with these settings. The
   * consume targets are absolute rates; this says how near the ceiling they are.
   */
  baseline: LoadResult;
}

/**
 * `POST /v1/consume` over HTTP: one unit of `api_calls` per request, every one allowed (each
 * customer's limit is lifted to a billion by a grant, so the conditional upsert still checks a
 * limit), first all on one hot customer, then rotating over many (each request the next customer,
 * so concurrent consumes are of different customers).
 */
export async function benchConsumeThroughput(input: {
  targets: readonly DatabaseChoice[];
  customers: number;
  settings: LoadSettings;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<ConsumeThroughputResult> {
  const points: ConsumePoint[] = [];
  let sample = '';
  let headers: Record<string, string> = {};
  for (const target of input.targets) {
    const { server, api, ids } = await startSeededKeymaster({ ...input, target, grant: largeLimitGrant });
    try {
      for (const customers of [ids.slice(0, 1), ids]) {
        input.log(`${target.database}, ${customers.length} customer(s): consume load`);
        const load = await runLoad({
          url: server.url,
          requests: customers.map(consumeRequest),
          headers: api.headers,
          settings: input.settings,
          serverCpuMicros: server.cpuMicros,
          // Each consume the next customer: 50 connections in flight on 50 different rows.
          spread: true,
        });
        points.push({ database: target.database, customers: customers.length, load });
      }
      const last = await api.call<{ allowed: boolean }>('POST', '/v1/consume', {
        customer: ids[0],
        feature: 'api_calls',
      });
      if (!last.allowed) throw new Error(`consumes were refused, the figures count refusals: ${JSON.stringify(last)}`);
      sample = JSON.stringify(last);
      headers = api.headers;
    } finally {
      await server.stop();
    }
  }
  input.log('bare node:http, the same load shape');
  const bare = await startServer({ script: 'bare-server', env: { BARE_BODY: sample }, execArgv: input.serverExecArgv });
  let baseline: LoadResult;
  try {
    baseline = await runLoad({
      url: bare.url,
      requests: [consumeRequest(customerId(0))],
      headers,
      settings: input.settings,
      serverCpuMicros: bare.cpuMicros,
    });
  } finally {
    await bare.stop();
  }
  return { settings: input.settings, points, baseline };
}
