import { type AlertRule, limitReached, type Period, ruleMet } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { toIso } from '../../json-column.js';
import { type DomainEventInput, emitDomainEvents } from '../outbox/emit.js';
import { claimFirings, type FiringKey, rearmFirings } from './store.js';

/** The firing key of `usage.limit_reached` (rule ids are `alr_…`, so it cannot collide). */
export const limitRule = 'limit';

/** A counter a usage write moved, as the alert check needs it; built by each write path. */
export interface UsageWatch {
  customerId: string;
  /** The counter's feature (a credit pool's, for a feature drawing from one). */
  feature: string;
  /** Usage after the write (or as it stands, for a refused request). */
  usage: number;
  /** The period's allowance; null when unlimited. */
  limit: number | null;
  /** The period alerts fire once in (see core's `alertPeriod`). */
  period: Period;
  windowed: boolean;
  rules: readonly AlertRule[];
  /** A request on this counter was refused for the limit: that reaches it too. */
  refused: boolean;
  /** One-off credits extend the balance past `limit`: only a refusal reaches it then. */
  credited?: boolean;
  /** A gauge: a level back below a threshold re-arms its rule (a gauge's period never ends). */
  rearm?: boolean;
}

/**
 * Firings this thread has seen committed, so a write past a threshold does not try the insert
 * again and again. Only ever a shortcut: a key missing here is decided by the table. Never for a
 * gauge's (`rearm`) watches: another node or a concurrent write may have re-armed the rule since,
 * and a stale entry here would swallow the next crossing.
 */
const fired = new Set<string>();
const firedCapacity = 100_000;

function memoKey(key: FiringKey): string {
  return `${key.ruleId}\u0000${key.customerId}\u0000${key.feature}\u0000${key.periodStart}`;
}

/**
 * Whether a watch can need any work: rules to evaluate, or a limit reached. Write paths ask this
 * before building anything, so a write that no rule watches and that leaves a balance costs
 * nothing more.
 */
export function mayFire(input: { rules: readonly AlertRule[]; usage: number; limit: number | null; refused: boolean }) {
  return input.rules.length > 0 || input.refused || limitReached(input);
}

/**
 * Decides which alerts the writes fire, in the writer's transaction: each met rule (and a
 * reached limit) is inserted into `alert_firings` if absent, and only the inserts that went in
 * emit their event — so each fires exactly once per customer, feature and period however many
 * writers and nodes find it met at once. Keys found already there are pushed onto `seen`: once
 * the transaction has committed, the caller passes them to `rememberFired`.
 */
export async function fireAlerts(
  tx: Db,
  input: { watches: readonly UsageWatch[]; now: number; seen: string[] },
): Promise<void> {
  const { now } = input;
  const keys: FiringKey[] = [];
  const byKey = new Map<string, { watch: UsageWatch; rule: AlertRule | null }>();
  for (const watch of input.watches) {
    const base = { customerId: watch.customerId, feature: watch.feature, periodStart: watch.period.start };
    const unmet: string[] = [];
    const want = (ruleId: string, rule: AlertRule | null) => {
      const key = { ruleId, ...base };
      const memo = memoKey(key);
      if ((!watch.rearm && fired.has(memo)) || byKey.has(memo)) return;
      keys.push(key);
      byKey.set(memo, { watch, rule });
    };
    for (const rule of watch.rules) {
      const met = ruleMet({
        rule,
        usage: watch.usage,
        limit: watch.limit,
        period: watch.period,
        now,
        windowed: watch.windowed,
      });
      if (met) want(rule.id, rule);
      else unmet.push(rule.id);
    }
    if (watch.refused || (!watch.credited && limitReached(watch))) want(limitRule, null);
    else unmet.push(limitRule);
    if (watch.rearm && unmet.length > 0) {
      await rearmFirings(tx, { ...base, ruleIds: unmet });
    }
  }
  if (keys.length === 0) return;
  const claimed = await claimFirings(tx, { keys, now });
  const events: DomainEventInput[] = [];
  const won = new Set<string>();
  for (const key of claimed) {
    const memo = memoKey(key);
    won.add(memo);
    const { watch, rule } = byKey.get(memo)!;
    events.push(alertEvent({ watch, rule, now }));
  }
  for (const [memo, { watch }] of byKey) if (!won.has(memo) && !watch.rearm) input.seen.push(memo);
  await emitDomainEvents(tx, events, now);
}

/** Whether this thread has seen `usage.limit_reached` committed for the counter's period. */
export function limitFired(input: { customerId: string; feature: string; periodStart: number }): boolean {
  return fired.has(memoKey({ ruleId: limitRule, ...input }));
}

/** After the transaction that found them committed: these firings need no insert again. */
export function rememberFired(seen: readonly string[]): void {
  if (seen.length === 0) return;
  if (fired.size + seen.length > firedCapacity) fired.clear();
  for (const memo of seen) fired.add(memo);
}

/** Forgets a customer's firings (the customer was erased: their rows went with them). */
export function forgetFired(): void {
  fired.clear();
}

function alertEvent(input: { watch: UsageWatch; rule: AlertRule | null; now: number }): DomainEventInput {
  const { watch, rule, now } = input;
  const period = {
    period_start: toIso(watch.period.start),
    period_end: Number.isFinite(watch.period.end) ? toIso(watch.period.end) : null,
  };
  if (rule === null) {
    return {
      type: 'usage.limit_reached',
      customerId: watch.customerId,
      occurredAt: now,
      data: {
        customer: watch.customerId,
        feature: watch.feature,
        usage: watch.usage,
        limit: watch.limit,
        refused: watch.refused,
        ...period,
      },
    };
  }
  return {
    type: 'usage.threshold_reached',
    customerId: watch.customerId,
    occurredAt: now,
    data: {
      customer: watch.customerId,
      feature: watch.feature,
      rule: rule.id,
      type: rule.type,
      value: rule.value,
      usage: watch.usage,
      limit: watch.limit,
      ...period,
    },
  };
}
