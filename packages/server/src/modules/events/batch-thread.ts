/**
 * The batch-writing thread (see `threadBatchWriter`): writes each planned batch it is sent on
 * its own connection to the SQLite file, one transaction at a time and in the order received,
 * and answers how many of the batch's events were new.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqliteConnection } from '../../db/database.js';
import { type BatchReply, type BatchRequest, writeBatch } from './batch-writer.js';

const port = parentPort;
if (!port) throw new Error('batch-thread.js runs as a worker thread');
const db = openSqliteConnection((workerData as { file: string }).file);
const reply = (message: BatchReply) => port.postMessage(message);
const writing = new Set<Promise<void>>();

port.on('message', (request: BatchRequest) => {
  if (request === 'close') {
    // The batches sent before finish first; then the connection closes and the thread ends.
    void Promise.allSettled([...writing])
      .then(() => db.destroy())
      .finally(() => port.close());
    return;
  }
  const write = writeBatch({ db, dialect: 'sqlite', plan: request.plan }).then(
    (accepted) => reply({ id: request.id, accepted }),
    (error: unknown) => {
      const { message, code } =
        error instanceof Error ? (error as Error & { code?: unknown }) : { message: String(error), code: undefined };
      reply({ id: request.id, error: { message, code } });
    },
  );
  writing.add(write);
  void write.finally(() => writing.delete(write));
});
