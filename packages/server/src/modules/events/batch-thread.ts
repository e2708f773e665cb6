/**
 * The batch-writing thread (see `threadBatchWriter`): writes each planned batch it is sent on
 * its own connection to the SQLite file, one transaction at a time and in the order received,
 * and answers how many of the batch's events were new.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteConnection } from '../../db/database.js';
import { type BatchPlan, writeBatch } from './batch-writer.js';
import { serveThreadRequests } from './held-thread.js';

const port = parentPort;
if (!port) throw new Error('batch-thread.js runs as a worker thread');
const db = openSqliteConnection((workerData as { file: string }).file);
serveThreadRequests<{ plan: BatchPlan }, number>({
  port,
  handle: ({ plan }) => writeBatch({ db, dialect: 'sqlite', plan }),
  finish: () => db.destroy(),
});
