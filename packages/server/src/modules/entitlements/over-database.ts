import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { DatabaseHandle } from '../../db/database.js';
import type { RefusedCheckAlerts } from '../alerts/refused-check.js';
import type { ConsumeSnapshot } from '../consume/service.js';
import { readUsage, readUsageNow } from '../counters/store.js';
import { type CheckedDecision, createEntitlementService, type EntitlementService } from './service.js';
import type { SnapshotCache } from './snapshot-cache.js';
import { loadCustomerStateAt, storedSnapshotCache } from './store.js';

/**
 * The snapshot cache over a database and the entitlement service that answers checks from it.
 * The server has the change feed keep the cache current; a command-line command uses both for
 * as long as it runs.
 */
export function entitlementsOver(input: {
  database: DatabaseHandle;
  clock: Clock;
  config: Pick<Config, 'fallbackPlan' | 'cacheSize'>;
  onMiss?: () => void;
  /** The server's: a check refused for the limit fires `usage.limit_reached` (the CLI's checks fire nothing). */
  onLimitRefused?: RefusedCheckAlerts;
  /** The server's decision log (the CLI's checks are not kept). */
  onDecision?: (input: CheckedDecision) => void;
}): {
  cache: SnapshotCache;
  entitlements: EntitlementService;
  /** The catalog and a customer's resolved entitlements now, from the cache. */
  snapshot: (customerId: string) => Promise<ConsumeSnapshot>;
} {
  const { database, clock } = input;
  const { db } = database;
  const cache = storedSnapshotCache({
    db,
    clock,
    fallbackPlan: input.config.fallbackPlan,
    capacity: input.config.cacheSize,
    ...(input.onMiss ? { onMiss: input.onMiss } : {}),
  });
  const entitlements = createEntitlementService({
    cache,
    clock,
    // On SQLite, at once from the read-only connection: a check stays synchronous, and does not
    // wait behind an ingestion transaction to read a counter that transaction may not even touch.
    readUsage: (span) => readUsageNow(database, span) ?? readUsage(db, span),
    loadStateAt: (customerId, at) => loadCustomerStateAt(db, { customerId, at }),
    onLimitRefused: input.onLimitRefused,
    onDecision: input.onDecision,
  });
  const snapshot = async (customerId: string) => {
    const [catalog, entry] = await Promise.all([cache.getCatalog(), cache.getCustomer(customerId)]);
    return { catalog, resolved: cache.entitlements({ entry, catalog, now: clock.now() }), state: entry.state };
  };
  return { cache, entitlements, snapshot };
}
