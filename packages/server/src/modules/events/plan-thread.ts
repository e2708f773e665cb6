/**
 * The planning thread (see `threadEventIngester`): reads each request body it is sent, meters
 * its events against a snapshot cache of its own, and has the batch-writing thread write the
 * plan; answers the counts, or the domain error that refused the body (see `serveThreadRequests`).
 *
 * Its cache follows the change feed on connections of its own (it only reads; pruning the feed
 * is the main thread's), and the feed is read up to now before each batch: whatever this node
 * committed before the batch arrived — a grant, a plan change, a new customer — is counted with.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { IngestResult } from '@keymaster/contract';
import pino from 'pino';
import { openDatabase } from '../../db/database.js';
import { withAlertRules } from '../alerts/listener.js';
import { AlertRuleCache } from '../alerts/rule-cache.js';
import { ChangeFeed } from '../changes/change-feed.js';
import { storedSnapshotCache } from '../entitlements/store.js';
import { threadBatchWriter } from './batch-writer.js';
import { serveThreadRequests } from './held-thread.js';
import { cachedEventService, type PlanRequest, type PlanThreadSettings } from './ingester.js';

const port = parentPort;
if (!port) throw new Error('plan-thread.js runs as a worker thread');
const settings = workerData as PlanThreadSettings;
const database = openDatabase({ dialect: 'sqlite', file: settings.file });
const { db } = database;
// The time is the main thread's (a test clock there is this thread's too): each batch brings it.
let latest = 0;
const clock = { now: () => latest };
const cache = storedSnapshotCache({ db, clock, fallbackPlan: settings.fallbackPlan, capacity: settings.cacheSize });
const alerts = new AlertRuleCache(db);
const feed = new ChangeFeed({
  db,
  readColumnNow: database.readColumnNow,
  listener: withAlertRules(cache, alerts),
  pollMs: settings.feedPollMs,
  logger: pino({ level: settings.logLevel }),
  retain: settings.feedRetain,
  prune: false,
});
const started = feed.start();
// This thread writes nothing on its own connection: the writer has nothing to wait for.
const writer = threadBatchWriter({ file: settings.file, hold: (work) => work() });
const events = cachedEventService({ cache, db, readNow: database.readNow, writer, clock, alerts });

serveThreadRequests<PlanRequest, IngestResult>({
  port,
  async handle(request) {
    latest = request.now;
    await started;
    await feed.sync();
    return events.ingestBody(request);
  },
  async finish() {
    feed.stop();
    await writer.close();
    await database.close();
  },
});
