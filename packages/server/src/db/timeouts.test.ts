import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDialect, testDialects } from '../test-support/databases.js';
import { dispatch, startTestServer, type TestServer, testAdminKey } from '../test-support/server.js';

/** A transaction on a connection of its own, holding a lock the server's writes need. */
interface HeldLock {
  release(): Promise<void>;
}

/** Locks the customer's row (PostgreSQL) or the whole database for writing (SQLite). */
async function holdCustomerLock(server: TestServer, customer: string): Promise<HeldLock> {
  const target = server.target;
  if (target.dialect === 'sqlite') {
    const other = new SqliteDatabase(target.file);
    other.exec('begin immediate');
    return {
      release: async () => {
        other.exec('rollback');
        other.close();
      },
    };
  }
  const other = new pg.Client({ connectionString: target.url, options: `-c search_path=${target.schema}` });
  await other.connect();
  await other.query('begin');
  await other.query('select id from customers where id = $1 for update', [customer]);
  return {
    release: async () => {
      await other.query('rollback');
      await other.end();
    },
  };
}

describeEachDialect('a write that waits on a lock held elsewhere', (dialect) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_PG_LOCK_TIMEOUT_MS: '300' } });
    expect((await server.request({ method: 'PUT', url: '/v1/customers/acme', body: {} })).statusCode).toBe(201);
  });

  afterAll(async () => {
    await server?.close();
  });

  const rename = (name: string) =>
    dispatch(server.keymaster.app, {
      method: 'PUT',
      url: '/v1/customers/acme',
      headers: { authorization: `Bearer ${testAdminKey}` },
      payload: { name },
    });

  it('answers 503 with Retry-After once the bounded wait is over, and succeeds once the lock is gone', async () => {
    const lock = await holdCustomerLock(server, 'acme');
    try {
      // The database still answers: the node stays ready while one row is stuck.
      expect((await dispatch(server.keymaster.app, { method: 'GET', url: '/readyz' })).statusCode).toBe(200);
      const started = performance.now();
      const answer = await rename('Acme Corp');
      const waited = performance.now() - started;
      expect(answer.statusCode, answer.body).toBe(503);
      expect(answer.headers['retry-after']).toBe('1');
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.json()).toMatchObject({ code: 'unavailable', status: 503 });
      // KEYMASTER_PG_LOCK_TIMEOUT_MS on PostgreSQL; SQLite's own busy timeout (5 s) on SQLite.
      if (dialect === 'postgres') expect(waited).toBeLessThan(2000);
      else expect(waited).toBeLessThan(8000);
    } finally {
      await lock.release();
    }
    const retried = await rename('Acme Corp');
    expect(retried.statusCode, retried.body).toBe(200);
    expect(retried.json()).toMatchObject({ name: 'Acme Corp' });
  });
});

describe.skipIf(!testDialects.includes('postgres'))('PostgreSQL connection settings', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({
      dialect: 'postgres',
      env: { KEYMASTER_PG_STATEMENT_TIMEOUT_MS: '4321', KEYMASTER_PG_LOCK_TIMEOUT_MS: '1234' },
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('gives every connection the configured statement and lock timeouts, the one that ran migrations too', async () => {
    const { db } = server.keymaster.database;
    // As many at once as the pool holds, so every connection answers, the migrations' one among them.
    const settings = await Promise.all(
      Array.from({ length: 5 }, () =>
        db.transaction().execute(async (tx) => {
          const row = await sql<{ statement: string; lock: string; name: string }>`
            select current_setting('statement_timeout') as statement, current_setting('lock_timeout') as lock,
                   current_setting('application_name') as name, pg_sleep(0.05)`.execute(tx);
          return row.rows[0];
        }),
      ),
    );
    for (const setting of settings)
      expect(setting).toMatchObject({ statement: '4321ms', lock: '1234ms', name: 'keymaster' });
  });
});
