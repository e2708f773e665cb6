import { generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { appendAudit, genesisHash } from './trail.js';

interface Checkpoint {
  id: string;
  seq: number;
  hash: string;
  count: number;
  at: string;
  reason: 'manual' | 'retention';
  signature: string | null;
  public_key: string | null;
}

function ed25519() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKey,
    pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    base64: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKey,
  };
}

/** What the documentation says is signed: RFC 8785 JSON of the checkpoint's facts and its type. */
function signatureHolds(checkpoint: Checkpoint, key: KeyObject): boolean {
  const { seq, hash, count, at } = checkpoint;
  const signed = canonicalize({ type: 'keymaster.audit_checkpoint', seq, hash, count, at })!;
  return verify(null, Buffer.from(signed), key, Buffer.from(checkpoint.signature!, 'base64'));
}

describe('KEYMASTER_AUDIT_SIGNING_KEY', () => {
  it('takes an Ed25519 key as PEM, PEM with \\n for its line breaks, or PKCS#8 in base64, and refuses others', () => {
    const key = ed25519();
    const spki = key.publicKey.export({ format: 'der', type: 'spki' });
    for (const form of [key.pem, key.pem.replaceAll('\n', '\\n'), key.base64]) {
      const { signingKey } = loadConfig({ KEYMASTER_AUDIT_SIGNING_KEY: form }).audit;
      expect(signingKey?.asymmetricKeyType).toBe('ed25519');
    }
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' });
    for (const bad of [rsa.toString(), 'not a key', spki.toString('base64')]) {
      expect(() => loadConfig({ KEYMASTER_AUDIT_SIGNING_KEY: bad })).toThrow(
        /KEYMASTER_AUDIT_SIGNING_KEY must be an Ed25519/,
      );
    }
    expect(loadConfig({}).audit).toEqual({ signingKey: undefined, retainDays: undefined });
    expect(loadConfig({ KEYMASTER_AUDIT_RETAIN_DAYS: '90' }).audit.retainDays).toBe(90);
    expect(() => loadConfig({ KEYMASTER_AUDIT_RETAIN_DAYS: '0' })).toThrow(/KEYMASTER_AUDIT_RETAIN_DAYS must be/);
  });
});

describeEachDialect('audit checkpoints', (dialect) => {
  const key = ed25519();
  const otherKey = ed25519();
  const files = mkdtempSync(join(tmpdir(), 'keymaster-checkpoints-'));
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { KEYMASTER_AUDIT_SIGNING_KEY: key.pem } });
    await seedCatalog(server);
    await seedCustomer(server, { plan: 'pro' });
  });
  afterAll(() => server.close());

  const db = () => server.keymaster.database.db;
  const head = () => db().selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
  const makeCheckpoint = async () =>
    expectStatus<Checkpoint>(await server.request({ method: 'POST', url: '/v1/audit-events/checkpoints' }), 201);

  it('makes a signed checkpoint of the head through the API, and lists it', async () => {
    const checkpoint = await makeCheckpoint();
    const { seq, hash } = await head();
    expect(checkpoint).toMatchObject({ seq, hash, count: seq, reason: 'manual' });
    expect(Date.parse(checkpoint.at)).toBe(server.clock.now());
    expect(signatureHolds(checkpoint, key.publicKey)).toBe(true);
    expect(signatureHolds(checkpoint, otherKey.publicKey)).toBe(false);
    expect(checkpoint.public_key).toBe(key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'));
    await seedCustomer(server, { plan: 'pro' });
    const later = await makeCheckpoint();
    expect(later.seq).toBeGreaterThan(checkpoint.seq);
    const listed = expectStatus<{ data: Checkpoint[]; next_cursor: string | null }>(
      await server.request({ method: 'GET', url: '/v1/audit-events/checkpoints?limit=1' }),
      200,
    );
    expect(listed.data).toEqual([later]);
    const next = expectStatus<{ data: Checkpoint[] }>(
      await server.request({ method: 'GET', url: `/v1/audit-events/checkpoints?limit=1&cursor=${listed.next_cursor}` }),
      200,
    );
    expect(next.data).toEqual([checkpoint]);
  });

  it('prints a checkpoint from the command line, signed with a base64 key, and stores it', async () => {
    const run = await keymaster(['audit', 'checkpoint'], { KEYMASTER_AUDIT_SIGNING_KEY: key.base64 });
    expect(run.code, run.stderr).toBe(0);
    const printed = JSON.parse(run.stdout) as Checkpoint;
    expect(printed).toMatchObject({ seq: (await head()).seq, hash: (await head()).hash, reason: 'manual' });
    expect(signatureHolds(printed, key.publicKey)).toBe(true);
    const stored = await db().selectFrom('audit_checkpoints').selectAll().where('id', '=', printed.id).execute();
    expect(stored).toHaveLength(1);
  }, 60_000);

  it('checks a kept checkpoint: its row and hash, and its signature under the derived or given key', async () => {
    const checkpoint = await makeCheckpoint();
    await seedCustomer(server, { plan: 'pro' });
    const file = join(files, 'kept.json');
    writeFileSync(file, JSON.stringify(checkpoint));
    writeFileSync(join(files, 'public.pem'), key.publicPem);
    writeFileSync(join(files, 'other.pem'), otherKey.publicPem);

    const derived = await keymaster(['audit', 'verify', '--checkpoint', file], {
      KEYMASTER_AUDIT_SIGNING_KEY: key.pem,
    });
    expect(derived.code, derived.stderr).toBe(0);
    expect(derived.stdout).toContain(`checkpoint at seq ${checkpoint.seq} holds (signature valid)`);
    const given = await keymaster([
      'audit',
      'verify',
      '--checkpoint',
      JSON.stringify(checkpoint),
      '--public-key',
      join(files, 'public.pem'),
    ]);
    expect(given.code, given.stderr).toBe(0);

    const wrongKey = await keymaster([
      'audit',
      'verify',
      '--checkpoint',
      file,
      '--public-key',
      join(files, 'other.pem'),
    ]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain('signature does not hold');
    const noKey = await keymaster(['audit', 'verify', '--checkpoint', file]);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('no public key');
    // An altered checkpoint: its signature no longer holds, and the chain has no such hash.
    const altered = { ...checkpoint, hash: 'f'.repeat(64) };
    const tampered = await keymaster(['audit', 'verify', '--checkpoint', JSON.stringify(altered)], {
      KEYMASTER_AUDIT_SIGNING_KEY: key.pem,
    });
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toContain('signature does not hold');
    expect(tampered.stderr).toContain(`row ${checkpoint.seq} has another hash`);
    // Unsigned checkpoints are checked against the chain alone.
    const unsigned = await keymaster([
      'audit',
      'verify',
      '--checkpoint',
      JSON.stringify({ ...checkpoint, signature: null }),
    ]);
    expect(unsigned.code, unsigned.stderr).toBe(0);
    expect(unsigned.stdout).toContain('(unsigned)');
  }, 90_000);

  it('refuses to checkpoint a broken chain', async () => {
    const last = await db().selectFrom('audit_events').selectAll().orderBy('seq', 'desc').executeTakeFirstOrThrow();
    await db().updateTable('audit_events').set({ actor_id: 'someone else' }).where('seq', '=', last.seq).execute();
    const refused = await server.request({ method: 'POST', url: '/v1/audit-events/checkpoints' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'audit_chain_broken' });
    const run = await keymaster(['audit', 'checkpoint']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`broken at seq ${last.seq}`);
    await db().updateTable('audit_events').set({ actor_id: last.actor_id }).where('seq', '=', last.seq).execute();
  }, 60_000);

  it('fails an old checkpoint against a chain rewritten wholesale, which verifies on its own', async () => {
    const kept = await makeCheckpoint();
    const rows = await db().selectFrom('audit_events').selectAll().orderBy('seq').execute();
    // Whoever can write the database rewrites history: one action changed, every hash recomputed
    // through the trail's own append, the head moved to match.
    const target = Math.ceil(rows.length / 2);
    await db().deleteFrom('audit_events').execute();
    await db().updateTable('audit_head').set({ seq: 0, hash: genesisHash }).execute();
    await appendAudit(
      db(),
      rows.map((row) => ({
        at: row.at,
        actor: { type: row.actor_type as 'api_key', id: row.actor_id, requestId: row.request_id },
        action: row.seq === target ? 'customer.nothing_to_see' : row.action,
        target: { type: row.target_type, id: row.target_id },
        customerId: row.customer_id,
        data: row.data === null ? null : JSON.parse(row.data),
      })),
    );
    expect(expectStatus(await server.request({ method: 'GET', url: '/v1/audit-events/verify' }), 200)).toMatchObject({
      ok: true,
    });
    const plain = await keymaster(['audit', 'verify']);
    expect(plain.code, plain.stderr).toBe(0);
    const run = await keymaster(['audit', 'verify', '--checkpoint', JSON.stringify(kept)], {
      KEYMASTER_AUDIT_SIGNING_KEY: key.pem,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`row ${kept.seq} has another hash than the checkpoint: the chain was rewritten`);
  }, 60_000);

  /** The real command line, from the build, on the test server's database, without this process's signing key. */
  function keymaster(args: string[], env: Record<string, string> = {}) {
    return runKeymaster(server.target, args, { env: { KEYMASTER_AUDIT_SIGNING_KEY: undefined, ...env } });
  }
});
