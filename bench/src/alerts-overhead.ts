import { compareRounds, type RoundsComparison, roundOrder, type Side, settlingSettings } from './ab-rounds.js';
import type { ChildServer } from './child-server.js';
import { type LoadResult, type LoadSettings, type RequestSpec, runLoad } from './http-load.js';
import { checkRequest, type KeymasterApi } from './keymaster-api.js';
import { type BenchDatabase, type DatabaseChoice, startSeededKeymaster } from './seeded-server.js';
import type { AlertActivity } from './servers/protocol.js';
import { round } from './stats.js';
import { startWebhookReceiver } from './webhook-delivery.js';

export type AlertsPath = 'check' | 'consume';

/** One load run, on the baseline server or on the one with the rules and endpoints. */
export interface AlertsRound {
  server: Side;
  load: LoadResult;
  /** Variant only: alert firings during the measured run. */
  firings?: number;
  /** Variant only: webhook deliveries the receiver got during the measured run. */
  deliveredDuringLoad?: number;
  /** Variant only: webhook deliveries the whole round (warm-up included) caused, all answered 2xx. */
  deliveries?: number;
}

export interface AlertsOverheadPoint extends RoundsComparison {
  database: BenchDatabase;
  path: AlertsPath;
  /** In the order they ran: baseline, variant, baseline, … , baseline. */
  rounds: AlertsRound[];
  /** Sums over the variant rounds. */
  firings: number;
  deliveredDuringLoad: number;
  deliveries: number;
  /** Alert firings per 1,000 requests of the variant's measured runs. */
  firingsPerThousand: number;
}

export interface AlertsOverheadResult {
  settings: { check: LoadSettings; consume: LoadSettings };
  customers: number;
  rules: number;
  endpoints: number;
  variantRounds: number;
  points: AlertsOverheadPoint[];
}

/**
 * The benchmark's alert rules: 20 on `pro`'s two metered features, of all three types, for every
 * customer or for `pro`'s subscribers. The 8 on api_calls (limit 100,000) are evaluated on every
 * consume and never met in a run: the common case. The 12 on exports (limit 1,000) sit from 5
 * units up, about doubling, so the customers that consume exports cross one or two of them in each
 * consume round and the variant fires alerts and delivers webhooks while it is measured.
 */
export const benchAlertRules = [
  { feature: 'api_calls', type: 'percent', value: 50, plan: 'pro' },
  { feature: 'api_calls', type: 'percent', value: 80, plan: 'pro' },
  { feature: 'api_calls', type: 'percent', value: 90 },
  { feature: 'api_calls', type: 'percent', value: 100 },
  { feature: 'api_calls', type: 'units', value: 5_000 },
  { feature: 'api_calls', type: 'units', value: 20_000, plan: 'pro' },
  { feature: 'api_calls', type: 'forecast_percent', value: 100 },
  { feature: 'api_calls', type: 'forecast_percent', value: 150, plan: 'pro' },
  { feature: 'exports', type: 'units', value: 5 },
  { feature: 'exports', type: 'percent', value: 1 },
  { feature: 'exports', type: 'units', value: 20, plan: 'pro' },
  { feature: 'exports', type: 'percent', value: 4 },
  { feature: 'exports', type: 'units', value: 60 },
  { feature: 'exports', type: 'percent', value: 12, plan: 'pro' },
  { feature: 'exports', type: 'units', value: 200 },
  { feature: 'exports', type: 'percent', value: 40 },
  { feature: 'exports', type: 'percent', value: 80, plan: 'pro' },
  { feature: 'exports', type: 'forecast_percent', value: 10 },
  { feature: 'exports', type: 'forecast_percent', value: 40, plan: 'pro' },
  { feature: 'exports', type: 'forecast_percent', value: 100 },
] as const;

/** One customer in this many consumes exports (as well as api_calls) in the consume rounds. */
const exportsEvery = 10;

/** A consume of one unit of `feature`. */
function consumeOf(customer: string, feature: string): RequestSpec {
  return { method: 'POST', path: '/v1/consume', body: JSON.stringify({ customer, feature }) };
}

/**
 * What alert rules and webhook endpoints cost the hot paths. Two servers, seeded alike (the
 * benchmark catalog, `customers` on `pro`, no grant): the baseline with no rule and no endpoint,
 * the variant with the 20 rules above and `endpoints` enabled endpoints taking every event type
 * at a local receiver. `POST /v1/check`, then `POST /v1/consume` (api_calls over every customer,
 * and exports for one in ten), each after an unmeasured settling run on both servers, in rounds
 * baseline, variant, baseline, … so that every variant round has a baseline on either side of it
 * (the machine's speed drifts). After each
 * variant round the benchmark waits until every delivery it caused is answered and the outbox's
 * consumers have caught up, so no work of one round spills into the next.
 */
export async function benchAlertsOverhead(input: {
  targets: readonly DatabaseChoice[];
  customers: number;
  endpoints: number;
  variantRounds: number;
  checkSettings: LoadSettings;
  consumeSettings: LoadSettings;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<AlertsOverheadResult> {
  const points: AlertsOverheadPoint[] = [];
  const receiver = await startWebhookReceiver();
  try {
    for (const target of input.targets) {
      const env = { KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true' };
      const servers: ChildServer[] = [];
      try {
        input.log(`${target.database}: the baseline server`);
        const baseline = await startSeededKeymaster({ ...input, target, env });
        servers.push(baseline.server);
        input.log(`${target.database}: the server with alert rules and webhook endpoints`);
        const variant = await startSeededKeymaster({ ...input, target, env });
        servers.push(variant.server);
        await equip(variant.api, input.endpoints, receiver.url);
        // Rule writes reach the rule cache through the change feed, and the seeding's events (which
        // the new endpoints get too) are delivered: let both settle before anything is measured.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await drained(baseline.server);
        const seeded = await drained(variant.server);
        input.log(`${target.database}: ${seeded.deliveries} deliveries of the seeding's events, before any round`);

        const requests: Record<AlertsPath, RequestSpec[]> = {
          check: baseline.ids.map(checkRequest),
          consume: baseline.ids.flatMap((id, i) =>
            i % exportsEvery === 0
              ? [consumeOf(id, 'api_calls'), consumeOf(id, 'exports')]
              : [consumeOf(id, 'api_calls')],
          ),
        };
        for (const path of ['check', 'consume'] as const) {
          const settings = path === 'check' ? input.checkSettings : input.consumeSettings;
          const rounds: AlertsRound[] = [];
          for (const { server, api } of [baseline, variant]) {
            input.log(`${target.database}, ${path}: settling run`);
            await runLoad({
              url: server.url,
              requests: requests[path],
              headers: api.headers,
              settings: settlingSettings(settings),
              serverCpuMicros: server.cpuMicros,
            });
            await drained(server);
          }
          const order = roundOrder(input.variantRounds);
          for (const [i, which] of order.entries()) {
            const { server, api } = which === 'baseline' ? baseline : variant;
            input.log(`${target.database}, ${path}: round ${i + 1} of ${order.length}, ${which}`);
            const atStart = await activity(server);
            let measured: { activity: AlertActivity; received: number } | undefined;
            const load = await runLoad({
              url: server.url,
              requests: requests[path],
              headers: api.headers,
              settings,
              serverCpuMicros: server.cpuMicros,
              beforeMeasured: async () => {
                measured = { activity: await activity(server), received: receiver.received() };
              },
            });
            const received = receiver.received();
            const atEnd = await activity(server);
            if (which === 'baseline' || !measured) {
              rounds.push({ server: which, load });
              continue;
            }
            const after = await drained(server);
            rounds.push({
              server: which,
              load,
              firings: atEnd.firings - measured.activity.firings,
              deliveredDuringLoad: received - measured.received,
              deliveries: after.deliveries - atStart.deliveries,
            });
          }
          if (path === 'consume') await assertStillGranted(variant.api, baseline.ids[0]!);
          points.push(summarise(target.database, path, rounds));
        }
      } finally {
        for (const server of servers) await server.stop();
      }
    }
  } finally {
    await receiver.close();
  }
  return {
    settings: { check: input.checkSettings, consume: input.consumeSettings },
    customers: input.customers,
    rules: benchAlertRules.length,
    endpoints: input.endpoints,
    variantRounds: input.variantRounds,
    points,
  };
}

/** The rules, and `endpoints` enabled endpoints for every event type, through the API. */
async function equip(api: KeymasterApi, endpoints: number, url: string): Promise<void> {
  for (const rule of benchAlertRules) await api.call('POST', '/v1/alert-rules', rule);
  for (let i = 0; i < endpoints; i++) await api.call('POST', '/v1/webhook-endpoints', { url: `${url}/${i}` });
}

function activity(server: ChildServer): Promise<AlertActivity> {
  return server.command<AlertActivity>('alert-activity');
}

/**
 * Waits until nothing is queued and the counts have held still for longer than the delivery
 * worker's and the fan-out's polls; answers the counts then. Every delivery must have succeeded.
 */
async function drained(server: ChildServer): Promise<AlertActivity> {
  const started = performance.now();
  let last = await activity(server);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const now = await activity(server);
    const still =
      now.pending === 0 &&
      now.outboxBehind === 0 &&
      now.firings === last.firings &&
      now.deliveries === last.deliveries &&
      now.succeeded === now.deliveries;
    if (still) return now;
    if (performance.now() - started > 180_000) {
      throw new Error(`webhook deliveries did not drain within 3 minutes: ${JSON.stringify(now)}`);
    }
    last = now;
  }
}

/** The consumes must have been granted throughout, or the figures would count refusals. */
async function assertStillGranted(api: KeymasterApi, customer: string): Promise<void> {
  for (const feature of ['api_calls', 'exports']) {
    const last = await api.call<{ allowed: boolean }>('POST', '/v1/consume', { customer, feature });
    if (!last.allowed) throw new Error(`consumes were refused, the figures count refusals: ${JSON.stringify(last)}`);
  }
}

function summarise(database: BenchDatabase, path: AlertsPath, rounds: AlertsRound[]): AlertsOverheadPoint {
  const sum = (pick: (r: AlertsRound) => number | undefined) => rounds.reduce((s, r) => s + (pick(r) ?? 0), 0);
  return {
    database,
    path,
    rounds,
    ...compareRounds(rounds),
    firings: sum((r) => r.firings),
    deliveredDuringLoad: sum((r) => r.deliveredDuringLoad),
    deliveries: sum((r) => r.deliveries),
    firingsPerThousand: round(
      (1000 * sum((r) => r.firings)) / sum((r) => (r.firings === undefined ? 0 : r.load.requests)),
    ),
  };
}
