import type { GaugeUpdate } from '@keymaster/contract';
import { type CustomerEntitlements, ErrorCodes, invalid, notFound } from '@keymaster/core';
import type { Clock } from '../../clock.js';
import type { Db } from '../../db/database.js';
import { type EffectClaim, withTransaction } from '../../db/transaction.js';
import { fireAlerts, rememberFired, type UsageWatch } from '../alerts/fire.js';
import type { AlertRuleCache } from '../alerts/rule-cache.js';
import { adjustGauge, gaugePeriodStart } from '../counters/store.js';
import { findCustomer } from '../customers/store.js';
import { findFeature } from '../features/store.js';

export type GaugeService = ReturnType<typeof createGaugeService>;

/** A gauge has one period from 0 with no end: its rules fire once per crossing, re-armed below. */
const gaugePeriod = Object.freeze({ start: gaugePeriodStart, end: Number.POSITIVE_INFINITY });

/**
 * Gauges record how much of something a customer has now. Recording is not asking: the level is
 * written whatever the cap (12 seats exist even on a 10-seat plan); `check` with a quantity is
 * how the product asks "may I add n more?". Alerts are decided in the write's transaction, like
 * a consume's; a level back below a rule's threshold re-arms it, so the next crossing fires again.
 */
export function createGaugeService(deps: {
  db: Db;
  clock: Clock;
  /** The alert rules and where to resolve a customer; without them no alert fires (a one-off command). */
  alerts?:
    | {
        rules: AlertRuleCache;
        snapshot: (customerId: string) => Promise<{ resolved: CustomerEntitlements | null }>;
      }
    | undefined;
}) {
  const { db, clock } = deps;

  /**
   * The watch for a write to the gauge, minus its level: resolved before the transaction (on
   * SQLite the transaction holds the only connection). Null when nothing can fire: no rule
   * watches it and it has no limit to reach.
   */
  async function watchOf(input: { customerId: string; feature: string }) {
    if (!deps.alerts) return null;
    const { resolved } = await deps.alerts.snapshot(input.customerId);
    if (!resolved) return null;
    const loaded = deps.alerts.rules.get();
    const index = loaded instanceof Promise ? await loaded : loaded;
    const rules = deps.alerts.rules.rulesFor(index, { resolved, feature: input.feature });
    const entitlement = resolved.entitlements.get(input.feature);
    const limit = entitlement?.type === 'gauge' ? entitlement.limit : null;
    if (rules.length === 0 && limit === null) return null;
    return (usage: number): UsageWatch => ({
      customerId: input.customerId,
      feature: input.feature,
      usage,
      limit,
      period: gaugePeriod,
      windowed: false,
      rules,
      refused: false,
      rearm: true,
    });
  }

  return {
    async setGauge(input: { customerId: string; body: GaugeUpdate; claim?: EffectClaim | undefined }): Promise<number> {
      const { body } = input;
      if ((body.set === undefined) === (body.delta === undefined)) {
        throw invalid([{ path: '/set', message: 'give exactly one of set or delta' }]);
      }
      const watch = await watchOf({ customerId: input.customerId, feature: body.feature });
      const seen: string[] = [];
      const level = await withTransaction({ db, claim: input.claim }, async (tx) => {
        if (!(await findCustomer(tx, input.customerId))) {
          throw notFound(ErrorCodes.customerNotFound, `Customer "${input.customerId}" does not exist.`);
        }
        const feature = await findFeature(tx, body.feature);
        if (!feature) throw invalid([{ path: '/feature', message: `unknown feature "${body.feature}"` }]);
        if (feature.type !== 'gauge') {
          throw invalid([
            {
              path: '/feature',
              message: `"${body.feature}" is ${feature.type}: only gauges are set; metered usage comes from events`,
            },
          ]);
        }
        const now = clock.now();
        const level = await adjustGauge(tx, {
          customerId: input.customerId,
          feature: body.feature,
          set: body.set,
          delta: body.delta,
          now,
        });
        if (level === null) throw invalid([{ path: '/delta', message: 'would take the level below 0' }]);
        // Decided under the counter's row lock the write just took: concurrent writes of this
        // gauge fire and re-arm in the order their levels were written.
        if (watch) await fireAlerts(tx, { watches: [watch(level)], now, seen });
        return level;
      });
      rememberFired(seen);
      return level;
    },
  };
}
