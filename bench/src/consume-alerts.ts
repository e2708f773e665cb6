import { type LoadResult, type LoadSettings, runLoad } from './http-load.js';
import { consumeRequest, largeLimitGrant } from './keymaster-api.js';
import { type BenchDatabase, type DatabaseChoice, startSeededKeymaster } from './seeded-server.js';
import { round } from './stats.js';

export interface ConsumeAlertsPoint {
  database: BenchDatabase;
  /** Consumes with no alert rule, before the rules are created and after they are deleted. */
  before: LoadResult;
  withRules: LoadResult;
  after: LoadResult;
  /** withRules req/s ÷ the mean of before and after. */
  ratio: number;
  /**
   * Server CPU per consume with the rules ÷ the same without (mean of before and after): what
   * the rules cost the server, less at the mercy of other work on the machine than req/s is.
   */
  cpuRatio: number;
}

export interface ConsumeAlertsResult {
  settings: LoadSettings;
  customers: number;
  rules: number;
  points: ConsumeAlertsPoint[];
}

/**
 * The cost of alert rules on the consume path: `POST /v1/consume` rotating over many customers,
 * with no rule, then with `rules` rules watching `api_calls` for every customer (half percent,
 * half units, none of them met: the limit is a billion, so every consume evaluates them all and
 * fires nothing, the common case), then with none again. The ratio is to the mean of the runs
 * without rules on either side, because the machine's speed drifts within a run.
 */
export async function benchConsumeAlerts(input: {
  targets: readonly DatabaseChoice[];
  customers: number;
  rules: number;
  settings: LoadSettings;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<ConsumeAlertsResult> {
  const points: ConsumeAlertsPoint[] = [];
  for (const target of input.targets) {
    const { server, api, ids } = await startSeededKeymaster({ ...input, target, grant: largeLimitGrant });
    try {
      const consumes = () =>
        runLoad({
          url: server.url,
          requests: ids.map(consumeRequest),
          headers: api.headers,
          settings: input.settings,
          serverCpuMicros: server.cpuMicros,
        });
      input.log(`${target.database}: consumes, no alert rule`);
      const before = await consumes();
      const created: string[] = [];
      for (let i = 0; i < input.rules; i++) {
        const body =
          i % 2 === 0
            ? { feature: 'api_calls', type: 'percent', value: 50 + i }
            : { feature: 'api_calls', type: 'units', value: 900_000_000 + i };
        created.push((await api.call<{ id: string }>('POST', '/v1/alert-rules', body)).id);
      }
      // Rule writes reach the rule cache through the change feed: let it poll before the warm-up.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      input.log(`${target.database}: consumes, ${input.rules} alert rules`);
      const withRules = await consumes();
      for (const id of created) await api.call('DELETE', `/v1/alert-rules/${id}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      input.log(`${target.database}: consumes, no alert rule again`);
      const after = await consumes();
      const left = await api.call<{ data: unknown[] }>('GET', '/v1/alert-rules?limit=1');
      if (left.data.length !== 0) throw new Error('alert rules were left behind: the last run was not without rules');
      const ratio = round(withRules.requestsPerSecond / ((before.requestsPerSecond + after.requestsPerSecond) / 2));
      const cpuPerConsume = (r: LoadResult) => r.serverCpuPercent / r.requestsPerSecond;
      const cpuRatio = round(cpuPerConsume(withRules) / ((cpuPerConsume(before) + cpuPerConsume(after)) / 2));
      points.push({ database: target.database, before, withRules, after, ratio, cpuRatio });
    } finally {
      await server.stop();
    }
  }
  return { settings: input.settings, customers: input.customers, rules: input.rules, points };
}
