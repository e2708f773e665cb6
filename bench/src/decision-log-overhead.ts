import { compareRounds, type RoundsComparison, roundOrder, type Side, settlingSettings } from './ab-rounds.js';
import type { ChildServer } from './child-server.js';
import { type LoadResult, type LoadSettings, runLoad } from './http-load.js';
import { checkOf, inParallel, type KeymasterApi, readMetric } from './keymaster-api.js';
import { type BenchDatabase, type DatabaseChoice, startSeededKeymaster } from './seeded-server.js';
import { round } from './stats.js';

/** The feature checked: `exports`, whose `decision_log` is the one thing the two servers differ in. */
const checkedFeature = 'exports';
/** The limit the denied half of the customers is held at, and has used up. */
const heldLimit = 10;

/** One load run, on the server with the checked feature's log off or on the one keeping its denials. */
export interface DecisionsRound {
  server: Side;
  load: LoadResult;
  /**
   * Checks the server answered over the measured run (`keymaster_http_requests_total`), the
   * requests still in flight when the load stopped included; half of them denied.
   */
  checksAnswered: number;
  /** Decisions the log wrote for those checks (it is made to write what waits before and after). */
  kept: number;
  /** `keymaster_decisions_dropped_total` moved by this much over the same checks. */
  dropped: number;
}

export interface DecisionLogOverheadPoint extends RoundsComparison {
  database: BenchDatabase;
  /** In the order they ran: baseline, variant, baseline, … , baseline. */
  rounds: DecisionsRound[];
  /** Over the variant's measured runs: decisions kept ÷ denials answered (half the checks answered); 1 when none was lost. */
  keptPerDenial: number;
  /** Over the variant's measured runs. */
  kept: number;
  dropped: number;
}

export interface DecisionLogOverheadResult {
  settings: LoadSettings;
  customers: number;
  variantRounds: number;
  /** The share of the checks denied. */
  deniedShare: number;
  /** The feature checked, whose `decision_log` differs. */
  feature: string;
  points: DecisionLogOverheadPoint[];
}

/**
 * What logging denials costs the check path (issue #17: `denied` logging of a 50 % denial load
 * ≥ 0.95× the throughput with logging off). Two servers seeded alike: the benchmark catalog,
 * `customers` on `pro`, and every other customer held at its limit of `exports` (a grant lowering
 * it to 10, and 10 consumed), so that a check of one export is denied (`limit_reached`) for half
 * of them and allowed for the other half. They differ in `exports`' `decision_log` only: `off` on
 * the **baseline**, `denied` (the default) on the **variant**, which then keeps one decision per
 * denied check in memory and writes them in batches (the server's defaults: every 250 ms, at most
 * 10,000 waiting, further ones dropped and counted in `keymaster_decisions_dropped_total`).
 * The load of benchmark 1 (`POST /v1/check`, pipelining) over every customer, alternately denied
 * and allowed. After an unmeasured settling run on each, rounds baseline, variant, baseline, …;
 * each variant round against the baseline rounds on either side of it. Around each measured run,
 * once the server has answered every check sent, it is made to write what waits (`GET
 * /v1/decisions` does) and its answered checks, kept decisions and drop counter are read, so that
 * each round reports exactly the decisions its checks had kept and dropped.
 */
export async function benchDecisionLogOverhead(input: {
  targets: readonly DatabaseChoice[];
  customers: number;
  variantRounds: number;
  settings: LoadSettings;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<DecisionLogOverheadResult> {
  const points: DecisionLogOverheadPoint[] = [];
  for (const target of input.targets) {
    const servers: ChildServer[] = [];
    try {
      const start = async (which: Side, decisionLog: 'off' | 'denied') => {
        input.log(`${target.database}: the ${which} server, ${checkedFeature} decision_log ${decisionLog}`);
        const seeded = await startSeededKeymaster({ ...input, target });
        servers.push(seeded.server);
        await holdAtLimit(seeded.api, denied(seeded.ids));
        await seeded.api.call('PATCH', `/v1/features/${checkedFeature}`, { decision_log: decisionLog });
        await expectAnswers(seeded.api, seeded.ids);
        return seeded;
      };
      const baseline = await start('baseline', 'off');
      const variant = await start('variant', 'denied');

      // Denied and allowed customers alternate, so that every stretch of the load is half denials.
      const requests = baseline.ids.map((id) => checkOf(id, checkedFeature));
      for (const side of [baseline, variant]) {
        input.log(`${target.database}: settling run`);
        await runLoad({
          url: side.server.url,
          requests,
          headers: side.api.headers,
          settings: settlingSettings(input.settings),
          serverCpuMicros: side.server.cpuMicros,
        });
      }
      const rounds: DecisionsRound[] = [];
      const order = roundOrder(input.variantRounds);
      for (const [i, which] of order.entries()) {
        const side = which === 'baseline' ? baseline : variant;
        input.log(`${target.database}: round ${i + 1} of ${order.length}, ${which}`);
        let atStart = { checksAnswered: 0, kept: 0, dropped: 0 };
        const load = await runLoad({
          url: side.server.url,
          requests,
          headers: side.api.headers,
          settings: input.settings,
          serverCpuMicros: side.server.cpuMicros,
          beforeMeasured: async () => {
            atStart = await logged(side);
          },
        });
        const atEnd = await logged(side);
        const counted = {
          checksAnswered: atEnd.checksAnswered - atStart.checksAnswered,
          kept: atEnd.kept - atStart.kept,
          dropped: atEnd.dropped - atStart.dropped,
        };
        if (which === 'baseline' && counted.kept + counted.dropped > 0) {
          throw new Error(`the server with ${checkedFeature}'s decision_log off kept ${counted.kept} decisions`);
        }
        rounds.push({ server: which, load, ...counted });
      }
      const measured = rounds.filter((r) => r.server === 'variant');
      const kept = measured.reduce((sum, r) => sum + r.kept, 0);
      const dropped = measured.reduce((sum, r) => sum + r.dropped, 0);
      const denials = measured.reduce((sum, r) => sum + r.checksAnswered / 2, 0);
      points.push({
        database: target.database,
        rounds,
        ...compareRounds(rounds),
        keptPerDenial: round(kept / denials),
        kept,
        dropped,
      });
    } finally {
      for (const server of servers) await server.stop();
    }
  }
  return {
    settings: input.settings,
    customers: input.customers,
    variantRounds: input.variantRounds,
    deniedShare: 0.5,
    feature: checkedFeature,
    points,
  };
}

/** Every other customer, from the first: those held at their limit. */
function denied(ids: readonly string[]): string[] {
  return ids.filter((_, i) => i % 2 === 0);
}

/** A grant lowering the checked feature's limit to `heldLimit`, and all of it consumed. */
async function holdAtLimit(api: KeymasterApi, ids: readonly string[]): Promise<void> {
  await inParallel(ids, 8, async (customer) => {
    await api.call('POST', `/v1/customers/${encodeURIComponent(customer)}/grants`, {
      feature: checkedFeature,
      limit: heldLimit,
      reason: 'benchmark: held at the limit',
    });
    const used = await api.call<{ allowed: boolean }>('POST', '/v1/consume', {
      customer,
      feature: checkedFeature,
      quantity: heldLimit,
    });
    if (!used.allowed) throw new Error(`consuming ${customer}'s ${heldLimit} ${checkedFeature} was refused`);
  });
}

/** The first customers answer as the load expects: denied at the limit, then allowed. */
async function expectAnswers(api: KeymasterApi, ids: readonly string[]): Promise<void> {
  for (const [i, customer] of ids.slice(0, 2).entries()) {
    const answer = await api.call<{ allowed: boolean; reason: string }>('POST', '/v1/check', {
      customer,
      feature: checkedFeature,
    });
    const expected: { allowed: boolean; reason?: string } =
      i % 2 === 0 ? { allowed: false, reason: 'limit_reached' } : { allowed: true };
    if (answer.allowed !== expected.allowed || (expected.reason && answer.reason !== expected.reason)) {
      throw new Error(`a check of ${customer} answered ${JSON.stringify(answer)}, not ${JSON.stringify(expected)}`);
    }
  }
}

const checksAnsweredSeries = 'keymaster_http_requests_total{method="POST",route="/v1/check",status="200"}';

/**
 * The checks answered so far, and the decisions written and dropped so far: once the server has
 * answered every check sent (its count holds still; a load run stops with requests in flight),
 * and then written what waits (`GET /v1/decisions` writes the node's own before it answers).
 */
async function logged(side: {
  server: ChildServer;
  api: KeymasterApi;
}): Promise<{ checksAnswered: number; kept: number; dropped: number }> {
  let checksAnswered = await readMetric(side.api, checksAnsweredSeries);
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = await readMetric(side.api, checksAnsweredSeries);
    if (now === checksAnswered) break;
    checksAnswered = now;
  }
  await side.api.call('GET', '/v1/decisions?limit=1');
  return {
    checksAnswered,
    kept: await side.server.command<number>('decisions-kept'),
    dropped: await readMetric(side.api, 'keymaster_decisions_dropped_total'),
  };
}
