import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, createKeymaster, loadConfig, openDatabase, systemClock } from '@keymaster/server';
import { type CloneCustomersArgs, cloneCustomers } from './clone-customers.js';
import { type CloneReportCustomersArgs, cloneReportCustomers } from './clone-report-customers.js';
import type { AlertActivity } from './protocol.js';
import { serveCommands } from './serve-commands.js';

/**
 * A Keymaster server under test, in its own process so that it does not share a core with the
 * load generator: SQLite in a fresh temporary directory — or, when BENCH_SERVER_DATABASE_URL (set by the parent) is a
 * postgres:// URL, a fresh schema in that database, dropped on stop (or, with BENCH_SERVER_SCHEMA,
 * the schema of another server under test, left to it) — the real HTTP stack, the system clock. The parent passes KEYMASTER_ADMIN_KEY and LOG_LEVEL in the environment,
 * KEYMASTER_WEBHOOK_ALLOW_PRIVATE when the server is to deliver webhooks to a local receiver, and
 * KEYMASTER_BENCHMARK_SKIP_AUDIT for the audit benchmark's baseline.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'keymaster-bench-'));
const loaded = loadConfig({
  KEYMASTER_DATA_DIR: dataDir,
  KEYMASTER_ADMIN_KEY: process.env.KEYMASTER_ADMIN_KEY,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  // Webhooks to the benchmark's receiver on loopback (benchmark 5b): off unless the parent asks.
  KEYMASTER_WEBHOOK_ALLOW_PRIVATE: process.env.KEYMASTER_WEBHOOK_ALLOW_PRIVATE,
  // The audit benchmark's baseline: changes write no audit row (a benchmark-only switch, config.ts).
  KEYMASTER_BENCHMARK_SKIP_AUDIT: process.env.KEYMASTER_BENCHMARK_SKIP_AUDIT,
  HOST: '127.0.0.1',
  PORT: '0',
});
const postgresUrl = process.env.BENCH_SERVER_DATABASE_URL;
// BENCH_SERVER_SCHEMA: join the schema another server under test created (and will drop).
const joined = process.env.BENCH_SERVER_SCHEMA || undefined;
const schema = postgresUrl ? (joined ?? `km_bench_${randomBytes(6).toString('hex')}`) : undefined;
const ownsSchema = postgresUrl !== undefined && joined === undefined;

/** Runs one statement outside Keymaster's own pool (creating or dropping the bench schema). */
async function adminStatement(url: string, statement: (db: ReturnType<typeof openDatabase>['db']) => Promise<unknown>) {
  const admin = openDatabase({ dialect: 'postgres', url, poolSize: 1 });
  try {
    await statement(admin.db);
  } finally {
    await admin.close();
  }
}

let config: Config = loaded;
if (postgresUrl && schema) {
  if (ownsSchema) await adminStatement(postgresUrl, (db) => db.schema.createSchema(schema).execute());
  config = { ...loaded, database: { dialect: 'postgres', url: postgresUrl, schema } };
}
const keymaster = await createKeymaster({ config, clock: systemClock });
const address = await keymaster.app.listen({ host: config.host, port: config.port });

await serveCommands({
  port: Number(new URL(address).port),
  async close() {
    await keymaster.close();
    if (postgresUrl && schema && ownsSchema) {
      await adminStatement(postgresUrl, (db) => db.schema.dropSchema(schema).ifExists().cascade().execute());
    }
    rmSync(dataDir, { recursive: true, force: true });
  },
  handlers: {
    'clone-customers': (args: CloneCustomersArgs) => cloneCustomers({ db: keymaster.database.db, ...args }),
    'clone-report-customers': (args: CloneReportCustomersArgs) =>
      cloneReportCustomers({ db: keymaster.database.db, ...args }),
    'cached-customers': () => keymaster.services.cache.size,
    schema: () => schema ?? null,
    config: () => ({ feedPollMs: config.feedPollMs }),
    'alert-activity': () => alertActivity(keymaster.database.db),
    'decisions-kept': () => decisionsKept(keymaster.database.db),
  },
});

/** What the alert and webhook machinery has done so far, counted in the server's own tables. */
async function alertActivity(db: typeof keymaster.database.db): Promise<AlertActivity> {
  const firings = await db
    .selectFrom('alert_firings')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const deliveries = await db
    .selectFrom('webhook_deliveries')
    .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
  const count = (status: string) => Number(deliveries.find((row) => row.status === status)?.n ?? 0);
  const all = deliveries.reduce((sum, row) => sum + Number(row.n), 0);
  const outbox = await db
    .selectFrom('domain_events')
    .select((eb) => eb.fn.max('seq').as('last'))
    .executeTakeFirstOrThrow();
  const cursors = await db
    .selectFrom('outbox_consumers')
    .select((eb) => eb.fn.min('position').as('slowest'))
    .executeTakeFirstOrThrow();
  return {
    firings: Number(firings.n),
    deliveries: all,
    succeeded: count('succeeded'),
    pending: count('pending'),
    outboxBehind: Math.max(0, Number(outbox.last ?? 0) - Number(cursors.slowest ?? outbox.last ?? 0)),
  };
}

/** Rows in the decision log (those written so far: it writes in batches). */
async function decisionsKept(db: typeof keymaster.database.db): Promise<number> {
  const kept = await db
    .selectFrom('decisions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(kept.n);
}
