import type { ChangeListener } from '../changes/change-feed.js';
import { forgetFired } from './fire.js';
import type { AlertRuleCache } from './rule-cache.js';

/**
 * The change feed's listener, also keeping the alert rules current: rule writes are catalog
 * changes (see migration 0016). An erased customer's firings went with them, so the memo of fired
 * alerts (see fire.ts) is dropped at any change of a customer, which could be an erasure: such
 * changes are rare next to usage writes, and the memo only saves inserts.
 */
export function withAlertRules(listener: ChangeListener, rules: AlertRuleCache): ChangeListener {
  return {
    catalogChanged() {
      rules.invalidate();
      listener.catalogChanged();
    },
    customerChanged(customerId) {
      forgetFired();
      listener.customerChanged(customerId);
    },
    usageChanged(customerId) {
      listener.usageChanged(customerId);
    },
    apiKeysChanged() {
      listener.apiKeysChanged();
    },
    reset() {
      rules.invalidate();
      forgetFired();
      listener.reset();
    },
  };
}
