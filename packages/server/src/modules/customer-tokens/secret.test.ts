import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { manualClock } from '../../clock.js';
import { loadConfig } from '../../config.js';
import { openDatabase } from '../../db/database.js';
import { plaintextSecrets } from '../../secrets-at-rest.js';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import {
  createMigratedTestDatabase,
  createTestDatabase,
  describeEachDialect,
  type TestDatabase,
  useMigratedDatabase,
} from '../../test-support/databases.js';
import { type ServerProcess, startServerProcess } from '../../test-support/processes.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { loadTokenSecret, rotateStoredTokenSecret, tokenKey } from './secret.js';
import { createCustomerTokenService } from './service.js';

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
    expect(second.keys).toEqual(first.keys);
    expect(first.keys.previous).toBeUndefined();
    expect((await settings()).map((row) => row.key)).toEqual(['customer_token_secret']);
  });

  it('with KEYMASTER_TOKEN_SECRET: only in the environment, nothing written to the database', async () => {
    const secret = await loadTokenSecret({ db: database().db, clock, configured, secrets: plaintextSecrets });
    expect(secret).toEqual({
      keys: { current: tokenKey(configured), previous: undefined },
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

describeEachDialect('rotating the customer-token secret', (dialect) => {
  const database = useMigratedDatabase(dialect);
  const clock = manualClock(Date.parse('2026-01-15T12:00:00Z'));
  const customerSince = () => 1;
  const service = (keys: Awaited<ReturnType<typeof loadTokenSecret>>['keys']) =>
    createCustomerTokenService({ db: database().db, keys, clock, customerSince });
  const load = (env: { configured?: string; previous?: string } = {}) =>
    loadTokenSecret({
      db: database().db,
      clock,
      configured: env.configured,
      configuredPrevious: env.previous,
      secrets: plaintextSecrets,
    });

  beforeEach(async () => {
    await database().db.deleteFrom('settings').execute();
  });

  it('names the signing key in each token (kid), and keys apart without revealing them', async () => {
    const { keys } = await load({ configured });
    const { token } = await service(keys).issue({ customer: 'acme', ttlSeconds: 600 });
    expect(decodeProtectedHeader(token).kid).toBe(keys.current.id);
    expect(keys.current.id).toMatch(/^[0-9a-f]{8}$/);
    expect(configured).not.toContain(keys.current.id);
    expect(tokenKey(`${configured}!`).id).not.toBe(keys.current.id);
  });

  it('with KEYMASTER_TOKEN_SECRET_PREVIOUS: tokens the old secret signed verify until they expire; others do not', async () => {
    const old = `${configured}-old`;
    const before = service((await load({ configured: old })).keys);
    const signedBefore = (await before.issue({ customer: 'acme', ttlSeconds: 600 })).token;
    // Minted before tokens named their key: no kid.
    const legacy = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('keymaster')
      .setAudience('keymaster:customer')
      .setSubject('acme')
      .setJti('ctok_legacy')
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 600)
      .sign(new TextEncoder().encode(old));

    const rotated = service((await load({ configured, previous: old })).keys);
    expect(await rotated.verify(signedBefore)).toMatchObject({ valid: true, customer: 'acme' });
    expect(await rotated.verify(legacy)).toMatchObject({ valid: true, customer: 'acme' });
    const signedAfter = (await rotated.issue({ customer: 'acme', ttlSeconds: 600 })).token;
    expect(await rotated.verify(signedAfter)).toMatchObject({ valid: true });

    // Once the previous secret is gone, so are the tokens it signed.
    const done = service((await load({ configured })).keys);
    expect(await done.verify(signedBefore)).toEqual({ valid: false, reason: 'invalid' });
    expect(await done.verify(legacy)).toEqual({ valid: false, reason: 'invalid' });
    expect(await done.verify(signedAfter)).toMatchObject({ valid: true });
  });

  it('rotates the secret kept in the database: the new one signs, the replaced one still verifies', async () => {
    const first = await load();
    const minted = (await service(first.keys).issue({ customer: 'acme', ttlSeconds: 600 })).token;
    const ids = await rotateStoredTokenSecret({ db: database().db, clock, secrets: plaintextSecrets });
    expect(ids).toEqual({ current: expect.stringMatching(/^[0-9a-f]{8}$/), previous: first.keys.current.id });
    const second = await load();
    expect(second.keys.current.id).toBe(ids.current);
    expect(second.keys.previous).toEqual(first.keys.current);
    expect(await service(second.keys).verify(minted)).toMatchObject({ valid: true });
    // A second rotation drops the first secret: what it signed no longer verifies.
    await rotateStoredTokenSecret({ db: database().db, clock, secrets: plaintextSecrets });
    const third = await load();
    expect(third.keys.previous).toEqual(second.keys.current);
    expect(await service(third.keys).verify(minted)).toEqual({ valid: false, reason: 'invalid' });
  });

  it('refuses KEYMASTER_TOKEN_SECRET_PREVIOUS without KEYMASTER_TOKEN_SECRET', () => {
    expect(() => loadConfig({ KEYMASTER_TOKEN_SECRET_PREVIOUS: configured })).toThrow(
      /KEYMASTER_TOKEN_SECRET_PREVIOUS needs KEYMASTER_TOKEN_SECRET/,
    );
  });
});

describeEachDialect('keymaster token-secret rotate', (dialect) => {
  let database: TestDatabase;
  const clock = manualClock(Date.parse('2026-01-15T12:00:00Z'));
  beforeAll(async () => {
    database = await createMigratedTestDatabase(dialect);
  });
  afterAll(() => database?.drop());
  const stored = async () => {
    const handle = openDatabase(database.target);
    try {
      return await loadTokenSecret({ db: handle.db, clock, configured: undefined, secrets: plaintextSecrets });
    } finally {
      await handle.close();
    }
  };

  it('rotates the stored secret, and refuses while KEYMASTER_TOKEN_SECRET is set', async () => {
    const before = await stored();
    const rotated = await runKeymaster(database.target, ['token-secret', 'rotate']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toContain(`replaces ${before.keys.current.id}`);
    const after = await stored();
    expect(after.keys.previous?.id).toBe(before.keys.current.id);
    expect(rotated.stdout).toContain(`New token secret ${after.keys.current.id}`);

    const refused = await runKeymaster(database.target, ['token-secret', 'rotate'], {
      env: { KEYMASTER_TOKEN_SECRET: configured },
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('KEYMASTER_TOKEN_SECRET_PREVIOUS');
  }, 60_000);
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
