import { compareRounds, type RoundsComparison, roundOrder, type Side, settlingSettings } from './ab-rounds.js';
import { startServer } from './child-server.js';
import { type LoadResult, type LoadSettings, runLoad } from './http-load.js';
import { consumeRequest, customerId, largeLimitGrant } from './keymaster-api.js';
import { type PgConsumeBaselineResult, pgConsumeBaseline } from './pg-consume-baseline.js';
import { type BenchDatabase, type DatabaseChoice, startSeededKeymaster } from './seeded-server.js';
import { mean, round } from './stats.js';

export interface ConsumePoint {
  database: BenchDatabase;
  /** How many customers the consumes rotate over: 1 is one hot counter row. */
  customers: number;
  /** The mean of its rounds. */
  load: LoadResult;
}

export interface ConsumeThroughputResult {
  settings: LoadSettings;
  points: ConsumePoint[];
  /**
   * By database: many customers (the variant) against one hot customer (the baseline), in rounds
   * hot, many, hot, …, hot — each many round against the hot rounds on either side of it, as the
   * machine's speed drifts more over a run than the difference measured.
   */
  manyVsHot: { database: BenchDatabase; rounds: number; comparison: RoundsComparison }[];
  /** PostgreSQL's own row work for batches of consumes, hot and over many customers (pg-consume-baseline.ts). */
  postgresAlone?: PgConsumeBaselineResult | undefined;
  /**
   * The bare node:http server of the check benchmark under the same load shape and request bytes:
   * the most any HTTP endpoint on node:http gets out of this machine with these settings. The
   * consume targets are absolute rates; this says how near the ceiling they are.
   */
  baseline: LoadResult;
}

/** Rounds of many customers, each between two of one hot customer. */
const manyRounds = 2;

/**
 * `POST /v1/consume` over HTTP: one unit of `api_calls` per request, every one allowed (each
 * customer's limit is lifted to a billion by a grant, so the conditional upsert still checks a
 * limit), all on one hot customer and rotating over many (each request the next customer, so
 * concurrent consumes are of different customers), in alternating rounds on one server.
 */
export async function benchConsumeThroughput(input: {
  targets: readonly DatabaseChoice[];
  customers: number;
  settings: LoadSettings;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<ConsumeThroughputResult> {
  const points: ConsumePoint[] = [];
  const manyVsHot: ConsumeThroughputResult['manyVsHot'] = [];
  let postgresAlone: PgConsumeBaselineResult | undefined;
  let sample = '';
  let headers: Record<string, string> = {};
  for (const target of input.targets) {
    const { server, api, ids } = await startSeededKeymaster({ ...input, target, grant: largeLimitGrant });
    try {
      const customersOf: Record<Side, string[]> = { baseline: ids.slice(0, 1), variant: ids };
      const load = (side: Side, settings: LoadSettings) =>
        runLoad({
          url: server.url,
          requests: customersOf[side].map(consumeRequest),
          headers: api.headers,
          settings,
          serverCpuMicros: server.cpuMicros,
          // Each consume the next customer: 50 connections in flight on 50 different rows.
          spread: true,
        });
      input.log(`${target.database}: settling run`);
      await load('variant', settlingSettings(input.settings));
      const rounds: { server: Side; load: LoadResult }[] = [];
      const order = roundOrder(manyRounds);
      for (const [i, side] of order.entries()) {
        input.log(`${target.database}: round ${i + 1} of ${order.length}, ${customersOf[side].length} customer(s)`);
        rounds.push({ server: side, load: await load(side, input.settings) });
      }
      for (const side of ['baseline', 'variant'] as const) {
        const loads = rounds.filter((r) => r.server === side).map((r) => r.load);
        points.push({ database: target.database, customers: customersOf[side].length, load: meanLoad(loads) });
      }
      manyVsHot.push({ database: target.database, rounds: order.length, comparison: compareRounds(rounds) });
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
    if (target.database === 'postgres') {
      input.log('postgres alone: the same row work, hot and over many customers');
      postgresAlone = await pgConsumeBaseline({
        url: target.url,
        customers: ids.length,
        // About what one batch takes under the benchmark's 50 connections, and two batches at once per node.
        perStatement: 25,
        clients: 2,
        seconds: input.settings.durationSeconds,
      });
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
  return { settings: input.settings, points, manyVsHot, postgresAlone, baseline };
}

/** Rounds' figures as one: each the mean of the rounds'. */
function meanLoad(loads: readonly LoadResult[]): LoadResult {
  const of = (pick: (load: LoadResult) => number) => round(mean(loads.map(pick)));
  const other = loads.map((load) => load.otherCpuPercent);
  return {
    requestsPerSecond: of((l) => l.requestsPerSecond),
    requests: loads.reduce((sum, l) => sum + l.requests, 0),
    latencyMs: { mean: of((l) => l.latencyMs.mean), p50: of((l) => l.latencyMs.p50), p99: of((l) => l.latencyMs.p99) },
    serverCpuPercent: of((l) => l.serverCpuPercent),
    loaderCpuPercent: of((l) => l.loaderCpuPercent),
    otherCpuPercent: other.some((value) => value === null) ? null : round(mean(other as number[])),
  };
}
