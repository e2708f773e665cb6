import { jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { manualClock } from '../../clock.js';
import { openDatabase } from '../../db/database.js';
import { plaintextSecrets } from '../../secrets-at-rest.js';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import {
  createTestDatabase,
  describeEachDialect,
  type TestDatabase,
  useMigratedDatabase,
} from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { loadTokenSecret } from './secret.js';

const configured = 'an-environment-secret-of-32-chars-or-more';
const warning = 'customer tokens are signed with a secret kept in the database';

describeEachDialect('where the customer-token secret is kept', (dialect) => {
  const database = useMigratedDatabase(dialect);
  const clock = manualClock(Date.parse('2026-01-15T12:00:00Z'));
  const settings = () => database().db.selectFrom('settings').selectAll().execute();

  beforeEach(async () => {
    await database().db.deleteFrom('settings').execute();
  });

  it('without KEYMASTER_TOKEN_SECRET: generated once and kept in the database, the same for every node', async () => {
    const first = await loadTokenSecret({ db: database().db, clock, configured: undefined, secrets: plaintextSecrets });
    const second = await loadTokenSecret({
      db: database().db,
      clock,
      configured: undefined,
      secrets: plaintextSecrets,
    });
    expect(first.source).toBe('database');
    expect(second.key).toEqual(first.key);
    expect((await settings()).map((row) => row.key)).toEqual(['customer_token_secret']);
  });

  it('with KEYMASTER_TOKEN_SECRET: only in the environment, nothing written to the database', async () => {
    const secret = await loadTokenSecret({ db: database().db, clock, configured, secrets: plaintextSecrets });
    expect(secret).toEqual({
      key: new TextEncoder().encode(configured),
      source: 'environment',
      removedStoredCopy: false,
    });
    expect(await settings()).toEqual([]);
  });

  it('with KEYMASTER_TOKEN_SECRET: a copy an earlier start kept in the database is deleted', async () => {
    await loadTokenSecret({ db: database().db, clock, configured: undefined, secrets: plaintextSecrets });
    const secret = await loadTokenSecret({ db: database().db, clock, configured, secrets: plaintextSecrets });
    expect(secret).toMatchObject({ source: 'environment', removedStoredCopy: true });
    expect(await settings()).toEqual([]);
  });
});

describeEachDialect('a server with KEYMASTER_TOKEN_SECRET', (dialect) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_TOKEN_SECRET: configured } });
    await seedCatalog(server);
  });
  afterAll(() => server.close());

  it('signs customer tokens with it and stores no secret', async () => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    const minted = expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: id } }),
      201,
    );
    const verified = await jwtVerify(minted.token, new TextEncoder().encode(configured), {
      currentDate: new Date(server.clock.now()),
    });
    expect(verified.payload.sub).toBe(id);
    expect(await server.keymaster.database.db.selectFrom('settings').selectAll().execute()).toEqual([]);
  });
});

describeEachDialect('the warning at start about a secret kept in the database', (dialect) => {
  let database: TestDatabase;
  const servers: ServerProcess[] = [];
  const adminKey = 'km_sk_token_secret_warning_0001';

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await database?.drop();
  });

  /** A server's output once it is ready, with what it logged while starting. */
  const startedOutput = async (env: Record<string, string>) => {
    const server = await startServerProcess({ target: database.target, adminKey, env });
    servers.push(server);
    // Logged before it listens; give the pipe a moment to deliver it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    return server.output();
  };

  it(`is ${dialect === 'postgres' ? '' : 'not '}given without KEYMASTER_TOKEN_SECRET, and never with it`, async () => {
    expect(await startedOutput({ KEYMASTER_TOKEN_SECRET: configured })).not.toContain(warning);
    const handle = openDatabase(database.target);
    try {
      expect(await handle.db.selectFrom('settings').selectAll().execute()).toEqual([]);
    } finally {
      await handle.close();
    }
    const output = await startedOutput({});
    if (dialect === 'postgres') expect(output).toContain(warning);
    else expect(output).not.toContain(warning);
  }, 60_000);
});
