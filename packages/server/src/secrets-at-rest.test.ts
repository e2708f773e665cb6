import { randomBytes } from 'node:crypto';
import type { WebhookEndpointWithSecret } from '@keymaster/contract';
import { jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { keyIdOf, parseEncryptionKey, SecretsAtRestError, secretsAtRest } from './secrets-at-rest.js';
import { expectStatus, seedCatalog, seedCustomer } from './test-support/builders.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from './test-support/databases.js';
import { startTestServerOn, type TestServer } from './test-support/server.js';
import { signedWith, startReceiver } from './test-support/webhook-receiver.js';

const newKey = () => randomBytes(32).toString('base64');

describe('secrets at rest', () => {
  const key = parseEncryptionKey(newKey());
  const other = parseEncryptionKey(newKey());

  it('seals into an envelope naming its key, and opens it again', () => {
    const secrets = secretsAtRest({ current: key, previous: undefined });
    const sealed = secrets.seal('whsec_the-secret', 'row 1');
    expect(sealed).toMatch(new RegExp(`^enc:v1:${keyIdOf(key)}:[\\w-]+:[\\w-]+:[\\w-]+$`));
    expect(sealed).not.toContain('the-secret');
    expect(secrets.seal('whsec_the-secret', 'row 1')).not.toBe(sealed);
    expect(secrets.open(sealed, 'row 1')).toBe('whsec_the-secret');
    expect(secrets.isStale(sealed)).toBe(false);
  });

  it('stores plaintext without a key, and reads plaintext stored before a key was set', () => {
    const none = secretsAtRest({ current: undefined, previous: undefined });
    expect(none.seal('whsec_x', 'row 1')).toBe('whsec_x');
    expect(none.isStale('whsec_x')).toBe(false);
    const keyed = secretsAtRest({ current: key, previous: undefined });
    expect(keyed.open('whsec_x', 'row 1')).toBe('whsec_x');
    expect(keyed.isStale('whsec_x')).toBe(true);
  });

  it('opens with the previous key, and calls what it sealed stale', () => {
    const before = secretsAtRest({ current: other, previous: undefined }).seal('whsec_x', 'row 1');
    const rotated = secretsAtRest({ current: key, previous: other });
    expect(rotated.open(before, 'row 1')).toBe('whsec_x');
    expect(rotated.isStale(before)).toBe(true);
    // With the key moved to the previous slot and none current: read, and rewritten as plaintext.
    const off = secretsAtRest({ current: undefined, previous: other });
    expect(off.open(before, 'row 1')).toBe('whsec_x');
    expect(off.isStale(before)).toBe(true);
  });

  it('refuses a value under a key it lacks, naming that key and its own', () => {
    const sealed = secretsAtRest({ current: other, previous: undefined }).seal('whsec_x', 'row 1');
    const open = (secrets: ReturnType<typeof secretsAtRest>) => () => secrets.open(sealed, 'row 1');
    expect(open(secretsAtRest({ current: key, previous: undefined }))).toThrow(SecretsAtRestError);
    expect(open(secretsAtRest({ current: key, previous: undefined }))).toThrow(
      `encrypted with key ${keyIdOf(other)}, but KEYMASTER_ENCRYPTION_KEY is key ${keyIdOf(key)}`,
    );
    expect(open(secretsAtRest({ current: undefined, previous: undefined }))).toThrow(
      'KEYMASTER_ENCRYPTION_KEY is not set',
    );
  });

  it('refuses a value moved to another row or altered', () => {
    const secrets = secretsAtRest({ current: key, previous: undefined });
    const sealed = secrets.seal('whsec_x', 'row 1');
    expect(() => secrets.open(sealed, 'row 2')).toThrow(/does not decrypt/);
    const parts = sealed.split(':');
    parts[4] = Buffer.from('whsec_y').toString('base64url');
    expect(() => secrets.open(parts.join(':'), 'row 1')).toThrow(/does not decrypt/);
    expect(() => secrets.open('enc:v9:abc', 'row 1')).toThrow(/a form this Keymaster does not read/);
  });

  it('takes only 32 bytes in base64 as a key, and says so without echoing it', () => {
    expect(() => loadConfig({ KEYMASTER_ENCRYPTION_KEY: 'too-short-a-key' })).toThrow(
      /KEYMASTER_ENCRYPTION_KEY must be 32 random bytes in base64 \(openssl rand -base64 32\)/,
    );
    expect(() => loadConfig({ KEYMASTER_ENCRYPTION_KEY_PREVIOUS: randomBytes(16).toString('base64') })).toThrow(
      /KEYMASTER_ENCRYPTION_KEY_PREVIOUS must be .*16 bytes, not 32/,
    );
    try {
      loadConfig({ KEYMASTER_ENCRYPTION_KEY: 'not!base64' });
    } catch (error) {
      expect(String(error)).not.toContain('not!base64');
    }
  });
});

describeEachDialect('secrets kept in the database, with KEYMASTER_ENCRYPTION_KEY', (dialect) => {
  let database: TestDatabase;
  let server: TestServer | undefined;
  const receiver = startReceiver();
  const first = newKey();
  const second = newKey();

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  afterAll(async () => {
    await (await receiver).close();
    await database.drop();
  });

  const start = async (env: Record<string, string> = {}) => {
    server = await startTestServerOn({
      target: database.target,
      // Real time, so that signatures carry a timestamp `standardwebhooks` accepts.
      start: new Date().toISOString(),
      env: { KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true', KEYMASTER_WEBHOOK_POLL_MS: '60000', ...env },
    });
    return server;
  };
  const stored = async () => {
    const { db } = server!.keymaster.database;
    return {
      endpoints: await db.selectFrom('webhook_endpoints').select(['id', 'secret', 'previous_secret']).execute(),
      tokenSecret: (
        await db.selectFrom('settings').select('value').where('key', '=', 'customer_token_secret').execute()
      )[0]?.value,
    };
  };
  /** A subscription event, delivered now to the endpoint: the request the receiver got. */
  const deliverOne = async () => {
    const r = await receiver;
    const before = r.received.length;
    await seedCustomer(server!, { plan: 'pro' });
    await server!.keymaster.webhooks.runDue();
    expect(r.received.length).toBeGreaterThan(before);
    return r.received.at(-1)!;
  };

  let endpoint: WebhookEndpointWithSecret;

  it('stores secrets made before the key as they are, and encrypts them at the first start with it', async () => {
    await start();
    await seedCatalog(server!);
    endpoint = expectStatus<WebhookEndpointWithSecret>(
      await server!.request({
        method: 'POST',
        url: '/v1/webhook-endpoints',
        body: { url: (await receiver).url, events: ['subscription.created'] },
      }),
      201,
    );
    const plain = await stored();
    expect(plain.endpoints).toEqual([{ id: endpoint.id, secret: endpoint.secret, previous_secret: null }]);
    const tokenSecret = plain.tokenSecret!;
    await server!.close();

    await start({ KEYMASTER_ENCRYPTION_KEY: first });
    const sealed = await stored();
    const firstId = keyIdOf(parseEncryptionKey(first));
    expect(sealed.endpoints[0]!.secret).toMatch(`enc:v1:${firstId}:`);
    expect(sealed.endpoints[0]!.secret).not.toContain(endpoint.secret.slice('whsec_'.length));
    expect(sealed.tokenSecret).toMatch(`enc:v1:${firstId}:`);
    expect(sealed.tokenSecret).not.toContain(tokenSecret);
    expect(signedWith(endpoint.secret, await deliverOne())).toBe(true);
    // Customer tokens are still signed with the key kept before: one minted now verifies with it.
    const { id: customer } = await seedCustomer(server!, { plan: 'pro' });
    const minted = expectStatus<{ token: string }>(
      await server!.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer } }),
      201,
    );
    await jwtVerify(minted.token, new TextEncoder().encode(tokenSecret), {
      currentDate: new Date(server!.clock.now()),
    });
  });

  it('keeps new and rotated secrets encrypted, and signs with them after a restart', async () => {
    await start({ KEYMASTER_ENCRYPTION_KEY: first });
    const rotated = expectStatus<WebhookEndpointWithSecret>(
      await server!.request({ method: 'POST', url: `/v1/webhook-endpoints/${endpoint.id}/rotate-secret` }),
      200,
    );
    const { endpoints } = await stored();
    for (const secret of [endpoints[0]!.secret, endpoints[0]!.previous_secret!]) {
      expect(secret).toMatch(/^enc:v1:/);
      expect(secret).not.toContain(rotated.secret.slice('whsec_'.length));
      expect(secret).not.toContain(endpoint.secret.slice('whsec_'.length));
    }
    await server!.close();

    await start({ KEYMASTER_ENCRYPTION_KEY: first });
    const received = await deliverOne();
    expect(signedWith(rotated.secret, received)).toBe(true);
    expect(signedWith(endpoint.secret, received)).toBe(true);
    endpoint = rotated;
  });

  it('refuses to start with another key, or with none, naming the key the secrets need', async () => {
    const firstId = keyIdOf(parseEncryptionKey(first));
    await expect(start({ KEYMASTER_ENCRYPTION_KEY: second })).rejects.toThrow(
      `is encrypted with key ${firstId}, but KEYMASTER_ENCRYPTION_KEY is key ${keyIdOf(parseEncryptionKey(second))}`,
    );
    await expect(start()).rejects.toThrow(`is encrypted with key ${firstId}, but KEYMASTER_ENCRYPTION_KEY is not set`);
  });

  it('moves every secret to a new key when the old one is given as the previous', async () => {
    await start({ KEYMASTER_ENCRYPTION_KEY: second, KEYMASTER_ENCRYPTION_KEY_PREVIOUS: first });
    const secondId = keyIdOf(parseEncryptionKey(second));
    const { endpoints, tokenSecret } = await stored();
    expect(endpoints[0]!.secret).toMatch(`enc:v1:${secondId}:`);
    expect(endpoints[0]!.previous_secret).toMatch(`enc:v1:${secondId}:`);
    expect(tokenSecret).toMatch(`enc:v1:${secondId}:`);
    await server!.close();
    // The previous key is no longer needed.
    await start({ KEYMASTER_ENCRYPTION_KEY: second });
    expect(signedWith(endpoint.secret, await deliverOne())).toBe(true);
  });

  it('stores them unencrypted again when the key is given only as the previous', async () => {
    await start({ KEYMASTER_ENCRYPTION_KEY_PREVIOUS: second });
    const { endpoints } = await stored();
    expect(endpoints[0]!.secret).toBe(endpoint.secret);
    await server!.close();
    await start();
    expect(signedWith(endpoint.secret, await deliverOne())).toBe(true);
  });
});
