import type { IngestResult } from '@keymaster/contract';
import type { Clock } from '../../clock.js';
import type { DatabaseHandle, Db } from '../../db/database.js';
import type { AlertRuleCache } from '../alerts/rule-cache.js';
import type { SnapshotCache } from '../entitlements/snapshot-cache.js';
import type { BatchWriter } from './batch-writer.js';
import { heldThread } from './held-thread.js';
import { createEventService, type EventIngester, type EventRequest, type EventService } from './service.js';

/**
 * The event service over a snapshot cache: the catalog and each batch customer's entitlements
 * come from it. The same wiring on the main thread (PostgreSQL, SQLite in memory) and on the
 * planning thread (a SQLite file, see `plan-thread.ts`), each with a cache of its own.
 */
export function cachedEventService(input: {
  cache: SnapshotCache;
  db: Db;
  readNow: DatabaseHandle['readNow'];
  writer: BatchWriter;
  clock: Clock;
  alerts?: AlertRuleCache | undefined;
}): EventService {
  const { cache, clock } = input;
  return createEventService({
    alerts: input.alerts,
    db: input.db,
    readNow: input.readNow,
    writer: input.writer,
    clock,
    catalog: () => cache.getCatalog(),
    // A batch asks for up to 1,000 customers: those cached answer without a promise.
    entitlementsOf: (customerId) => {
      const catalog = cache.getCatalog();
      const entry = cache.getCustomer(customerId);
      if (catalog instanceof Promise || entry instanceof Promise) {
        return Promise.all([catalog, entry]).then(([c, e]) =>
          cache.entitlements({ entry: e, catalog: c, now: clock.now() }),
        );
      }
      return cache.entitlements({ entry, catalog, now: clock.now() });
    },
  });
}

/** Ingestion on the calling thread: nothing of its own to close. */
export function localEventIngester(events: EventService): EventIngester {
  return { ingest: (input) => events.ingestBody(input), close: async () => {} };
}

/** What the planning thread is sent: a request body as it arrived, and when. */
export interface PlanRequest extends EventRequest {
  now: number;
}

/** How the planning thread is set up (its `workerData`). */
export interface PlanThreadSettings {
  file: string;
  fallbackPlan: string | undefined;
  cacheSize: number;
  feedPollMs: number;
  feedRetain: number;
  logLevel: string;
}

// Run from the TypeScript sources (by the test runner), the thread still runs the build's JavaScript
// — which the test run's global setup (vitest.global-setup.ts) first builds from those sources.
const planScript = import.meta.url.endsWith('.ts')
  ? new URL('../../../dist/modules/events/plan-thread.js', import.meta.url)
  : new URL('./plan-thread.js', import.meta.url);

/**
 * Ingestion off the event loop, for a SQLite file: each request body goes as bytes to a planning
 * thread, which reads it, meters it against its own snapshot cache and hands the plan to the
 * batch-writing thread. The event loop keeps only the HTTP exchange, so the checks it answers
 * meanwhile lose about what any other work on the machine would take from them.
 *
 * The planning thread reads the change feed before each batch, so a grant or plan change this
 * node answered before the batch arrived is counted with. `hold` keeps the main connection from
 * the moment a batch is sent until it is written (see `heldThread`).
 */
export function threadEventIngester(input: {
  settings: PlanThreadSettings;
  clock: Clock;
  hold: <T>(work: () => Promise<T>) => Promise<T>;
}): EventIngester {
  const thread = heldThread<PlanRequest, IngestResult>({
    script: planScript,
    workerData: input.settings,
    hold: input.hold,
    // A hold now spans a batch's planning and its writing: with two a hold, the planner idled
    // while the second was written and the writer while the next hold's first was planned
    // (111–114k events/s against 110–136k with four or eight, `--only ingest --quick`).
    requestsPerHold: 4,
    name: 'event ingestion',
  });
  return {
    ingest: ({ body, mediaType }) => thread.send({ body, mediaType, now: input.clock.now() }),
    close: () => thread.close(),
  };
}
