import { type AlertRule, applicableRules, type CustomerEntitlements } from '@keymaster/core';
import type { Db } from '../../db/database.js';
import { loadAllAlertRules } from './store.js';

type RuleIndex = ReadonlyMap<string, readonly AlertRule[]>;

const none: readonly AlertRule[] = Object.freeze([]);

/**
 * Every alert rule, by feature, in memory: usage writes ask it on every consume and event batch,
 * and a feature no rule watches must cost them one map lookup. Rule writes announce a catalog
 * change on the feed (see migration 0016), so each node — and the event planning thread, which
 * has a cache of its own — drops the index and reads the rules again at the next write.
 */
export class AlertRuleCache {
  private index: RuleIndex | undefined;
  private loading: Promise<RuleIndex> | undefined;
  private generation = 0;

  constructor(private readonly db: Db) {}

  /** The index, at once when loaded. */
  get(): RuleIndex | Promise<RuleIndex> {
    return this.index ?? this.load();
  }

  /** The rules watching one customer's use of one feature (see `applicableRules`). */
  rulesFor(
    index: RuleIndex,
    input: { resolved: Pick<CustomerEntitlements, 'customerId' | 'planKey'>; feature: string },
  ) {
    const rules = index.get(input.feature);
    if (rules === undefined) return none;
    return applicableRules({ rules, customer: input.resolved.customerId, plan: input.resolved.planKey });
  }

  /** A rule changed (or the feed lost track): read them again when next asked. */
  invalidate(): void {
    this.generation++;
    this.index = undefined;
    this.loading = undefined;
  }

  private load(): Promise<RuleIndex> {
    if (this.loading) return this.loading;
    const generation = this.generation;
    const loading = loadAllAlertRules(this.db).then((rules) => {
      const index = new Map<string, AlertRule[]>();
      for (const rule of rules) {
        const list = index.get(rule.feature);
        if (list) list.push(rule);
        else index.set(rule.feature, [rule]);
      }
      // A rule written while this read ran may be missing from it: keep it only if none was.
      if (generation === this.generation) this.index = index;
      return index;
    });
    this.loading = loading;
    loading.catch(() => {
      if (this.loading === loading) this.loading = undefined;
    });
    return loading;
  }
}
