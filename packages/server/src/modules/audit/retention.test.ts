import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { createAuditPruner } from './retention.js';
import { appendAudit, sealAudit } from './trail.js';

interface Checkpoint {
  seq: number;
  hash: string;
  count: number;
  reason: string;
}
interface Verification {
  ok: boolean;
  count: number;
  from_seq: number;
  first_bad_seq: number | null;
  reason: string | null;
}

const day = 86_400_000;

async function advanceClock(server: TestServer, to: number) {
  return expectStatus(
    await server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to: new Date(to).toISOString() } }),
    200,
  );
}

async function verifyChain(server: TestServer) {
  return expectStatus<Verification>(await server.request({ method: 'GET', url: '/v1/audit-events/verify' }), 200);
}

/** KEYMASTER_AUDIT_RETAIN_DAYS: rows past it are pruned up to a checkpoint the chain then starts from. */
describeEachDialect('audit retention', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      start: '2026-01-01T00:00:00.000Z',
      env: { KEYMASTER_TEST_CLOCK: 'true', KEYMASTER_AUDIT_RETAIN_DAYS: '30' },
    });
  });
  afterAll(() => server.close());

  const db = () => server.keymaster.database.db;
  const advance = (to: number) => advanceClock(server, to);
  const verify = () => verifyChain(server);
  const checkpoints = async (reason: string) =>
    expectStatus<{ data: Checkpoint[] }>(
      await server.request({ method: 'GET', url: `/v1/audit-events/checkpoints?reason=${reason}` }),
      200,
    ).data;
  const seqs = async () => {
    await sealAudit(db());
    return (await db().selectFrom('audit_events').select('seq').orderBy('seq').execute()).map((row) => row.seq);
  };

  it('prunes rows past the retention up to a checkpoint, and verification starts from it', async () => {
    const start = server.clock.now();
    await seedCatalog(server);
    await seedCustomer(server, { plan: 'pro' });
    await sealAudit(db());
    const old = await db().selectFrom('audit_events').selectAll().orderBy('seq').execute();
    const kept = expectStatus<Checkpoint & Record<string, unknown>>(
      await server.request({ method: 'POST', url: '/v1/audit-events/checkpoints' }),
      201,
    );
    await advance(start + 20 * day);
    await seedCustomer(server, { plan: 'pro' });
    const recent = (await seqs()).filter((seq) => seq > old.at(-1)!.seq);
    expect(recent.length).toBeGreaterThan(1);
    // Nothing is 30 days old yet.
    await advance(start + 29 * day);
    expect(await checkpoints('retention')).toEqual([]);
    expect((await seqs()).length).toBe(old.length + recent.length);

    await advance(start + 31 * day);
    const last = old.at(-1)!;
    expect(await checkpoints('retention')).toEqual([
      expect.objectContaining({ seq: last.seq, hash: last.hash, count: old.length, reason: 'retention' }),
    ]);
    // What is left starts right after the checkpoint: the recent rows, and the renewals on the way.
    const left = await seqs();
    expect(left[0]).toBe(last.seq + 1);
    expect(left).toEqual(expect.arrayContaining(recent));
    expect(await verify()).toMatchObject({ ok: true, count: left.length, from_seq: last.seq });
    const run = await keymaster(['audit', 'verify']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`from the retention checkpoint at seq ${last.seq}`);

    // A checkpoint kept from before the pruning can no longer be checked; the pruning's can.
    const before = await keymaster(['audit', 'verify', '--checkpoint', JSON.stringify({ ...kept, seq: 1 })]);
    expect(before.code).toBe(1);
    expect(before.stderr).toContain(`the rows up to seq ${last.seq} were pruned`);
    const [retention] = await checkpoints('retention');
    const atPruning = await keymaster(['audit', 'verify', '--checkpoint', JSON.stringify(retention)]);
    expect(atPruning.code, atPruning.stderr).toBe(0);
  }, 60_000);

  it('still names an edited row that remains, by the API and the command line', async () => {
    const [first, second] = await seqs();
    const edit = (seq: number, action: string) =>
      db().updateTable('audit_events').set({ action }).where('seq', '=', seq).execute();
    // The first remaining row links to the retention checkpoint: that link is checked too.
    const { action } = await db()
      .selectFrom('audit_events')
      .select('action')
      .where('seq', '=', first!)
      .executeTakeFirstOrThrow();
    await edit(first!, 'customer.nothing');
    expect(await verify()).toMatchObject({ ok: false, first_bad_seq: first });
    await edit(first!, action);
    expect(await verify()).toMatchObject({ ok: true });
    await edit(second!, 'customer.nothing');
    expect(await verify()).toMatchObject({ ok: false, first_bad_seq: second });
    const run = await keymaster(['audit', 'verify']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`audit trail broken at seq ${second}`);
  }, 30_000);

  it('prunes only up to a row that does not verify, which stays as the evidence', async () => {
    const [first, second] = await seqs();
    await advance(server.clock.now() + 60 * day);
    expect((await seqs())[0]).toBe(second);
    expect((await checkpoints('retention'))[0]).toMatchObject({ seq: first });
    expect(await verify()).toMatchObject({ ok: false, first_bad_seq: second });
  });

  /** The real command line, from the build, on the test server's database. */
  const keymaster = (args: string[]) => runKeymaster(server.target, args);
});

describeEachDialect('audit retention on several nodes', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: '2026-01-01T00:00:00.000Z' });
  });
  afterAll(() => server.close());

  it('prunes each row once when nodes prune at the same time', async () => {
    await seedCatalog(server);
    for (let i = 0; i < 5; i++) await seedCustomer(server, { plan: 'pro' });
    await sealAudit(server.keymaster.database.db);
    const { seq } = await server.keymaster.database.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
    const pruners = Array.from({ length: 3 }, () =>
      createAuditPruner({
        db: server.keymaster.database.db,
        logger: pino({ level: 'silent' }),
        retainMs: day,
        signingKey: undefined,
      }),
    );
    const deleted = await Promise.all(pruners.map((pruner) => pruner.runDue(server.clock.now() + 2 * day)));
    expect(deleted.reduce((sum, n) => sum + n, 0)).toBe(seq);
    const retention = await server.keymaster.database.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('reason', '=', 'retention')
      .execute();
    expect(retention.map((row) => row.seq)).toEqual([seq]);
    expect(expectStatus(await server.request({ method: 'GET', url: '/v1/audit-events/verify' }), 200)).toMatchObject({
      ok: true,
      count: 0,
      from_seq: seq,
    });
    // The chain goes on from the checkpoint.
    await seedCustomer(server, { plan: 'pro' });
    expect(expectStatus(await server.request({ method: 'GET', url: '/v1/audit-events/verify' }), 200)).toMatchObject({
      ok: true,
      from_seq: seq,
    });
  });
});

/** An Ed25519 key pair: the private key as KEYMASTER_AUDIT_SIGNING_KEY takes it, the public one in a file. */
function ed25519(dir: string, name: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicFile = join(dir, `${name}.pem`);
  writeFileSync(publicFile, publicKey.export({ format: 'pem', type: 'spki' }).toString());
  return {
    privateKey,
    pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicFile,
    publicText: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  };
}

/** What docs/audit.md says is signed: RFC 8785 JSON of the checkpoint's facts and its type. */
function signWith(key: KeyObject, checkpoint: { seq: number; hash: string; count: number; at: number }): string {
  const { seq, hash, count } = checkpoint;
  const at = new Date(checkpoint.at).toISOString();
  const signed = canonicalize({ type: 'keymaster.audit_checkpoint', seq, hash, count, at })!;
  return sign(null, Buffer.from(signed), key).toString('base64');
}

/**
 * With KEYMASTER_AUDIT_SIGNING_KEY, verification trusts the retention checkpoint it starts from only
 * when its signature holds: an edited checkpoint row fails, by the API and the command line.
 */
describeEachDialect('audit retention, signed', (dialect) => {
  const files = mkdtempSync(join(tmpdir(), 'keymaster-retention-'));
  const key = ed25519(files, 'ours');
  const otherKey = ed25519(files, 'theirs');
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      start: '2026-01-01T00:00:00.000Z',
      env: { KEYMASTER_TEST_CLOCK: 'true', KEYMASTER_AUDIT_RETAIN_DAYS: '30', KEYMASTER_AUDIT_SIGNING_KEY: key.pem },
    });
    const start = server.clock.now();
    await seedCatalog(server);
    await seedCustomer(server, { plan: 'pro' });
    await advance(start + 20 * day);
    await seedCustomer(server, { plan: 'pro' });
    await advance(start + 31 * day);
  }, 60_000);
  afterAll(() => server.close());

  const db = () => server.keymaster.database.db;
  const advance = (to: number) => advanceClock(server, to);
  const verify = () => verifyChain(server);
  /** The stored retention checkpoint verification starts from: the latest. */
  const latest = () =>
    db()
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('reason', '=', 'retention')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
  const edit = async (id: string, change: Record<string, unknown>) =>
    db().updateTable('audit_checkpoints').set(change).where('id', '=', id).execute();
  /** The real command line, from the build, on the test server's database: no key unless given. */
  const keymaster = (args: string[], env: Record<string, string> = {}) =>
    runKeymaster(server.target, args, { env: { KEYMASTER_AUDIT_SIGNING_KEY: '', ...env } });

  it('starts from the signed retention checkpoint and checks its signature', async () => {
    const checkpoint = await latest();
    expect(checkpoint.signature).not.toBeNull();
    expect(await verify()).toMatchObject({ ok: true, from_seq: checkpoint.seq });
    const from = `from the retention checkpoint at seq ${checkpoint.seq}`;
    const withKey = await keymaster(['audit', 'verify'], { KEYMASTER_AUDIT_SIGNING_KEY: key.pem });
    expect(withKey.code, withKey.stderr).toBe(0);
    expect(withKey.stdout).toContain(`${from} (signature valid)`);
    const withPublicKey = await keymaster(['audit', 'verify', '--public-key', key.publicFile]);
    expect(withPublicKey.code, withPublicKey.stderr).toBe(0);
    expect(withPublicKey.stdout).toContain(`${from} (signature valid)`);
    // Without a key, under the key the checkpoint names: it shows the checkpoint unedited, not whose it is.
    const noKey = await keymaster(['audit', 'verify']);
    expect(noKey.code, noKey.stderr).toBe(0);
    expect(noKey.stdout).toContain(`${from} (signature holds under the key it names`);
    const wrongKey = await keymaster(['audit', 'verify', '--public-key', otherKey.publicFile]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain(
      `audit trail broken at seq ${checkpoint.seq}: the retention checkpoint ${checkpoint.id} at seq ${checkpoint.seq} ` +
        'does not match its signature under the signing key',
    );
  }, 60_000);

  it('fails, naming the checkpoint, when its count, time, hash or seq was edited', async () => {
    const checkpoint = await latest();
    const edits = [
      { count: checkpoint.count + 1 },
      { at: checkpoint.at - 1 },
      { hash: 'f'.repeat(64) },
      { seq: checkpoint.seq - 1 },
    ];
    for (const change of edits) {
      await edit(checkpoint.id, change);
      const seq = 'seq' in change ? change.seq : checkpoint.seq;
      const verdict = await verify();
      expect(verdict, JSON.stringify(change)).toMatchObject({ ok: false, first_bad_seq: seq, from_seq: seq });
      expect(verdict.reason).toBe(
        `the retention checkpoint ${checkpoint.id} at seq ${seq} does not match its signature under the signing ` +
          'key: its seq, hash, count or time was edited, or it was signed by another key',
      );
      if ('count' in change) {
        // The command line without the key checks it under the key it names: the edit shows all the same.
        const envs: Record<string, string>[] = [{ KEYMASTER_AUDIT_SIGNING_KEY: key.pem }, {}];
        for (const env of envs) {
          const run = await keymaster(['audit', 'verify'], env);
          expect(run.code).toBe(1);
          expect(run.stderr).toContain(
            `the retention checkpoint ${checkpoint.id} at seq ${seq} does not match its signature`,
          );
        }
      }
      await edit(checkpoint.id, {
        seq: checkpoint.seq,
        hash: checkpoint.hash,
        count: checkpoint.count,
        at: checkpoint.at,
      });
    }
    expect(await verify()).toMatchObject({ ok: true });
  }, 60_000);

  it('fails when the signature was removed, and takes an unsigned checkpoint only without a key', async () => {
    const checkpoint = await latest();
    await edit(checkpoint.id, { signature: null });
    expect(await verify()).toMatchObject({
      ok: false,
      first_bad_seq: checkpoint.seq,
      reason: `the retention checkpoint ${checkpoint.id} at seq ${checkpoint.seq} names a public key but carries no signature: it was edited`,
    });
    await edit(checkpoint.id, { signature: null, public_key: null });
    expect(await verify()).toMatchObject({ ok: false, first_bad_seq: checkpoint.seq });
    expect((await verify()).reason).toContain('is not signed, though a signing key is set');
    const withKey = await keymaster(['audit', 'verify', '--public-key', key.publicFile]);
    expect(withKey.code).toBe(1);
    expect(withKey.stderr).toContain(
      `the retention checkpoint ${checkpoint.id} at seq ${checkpoint.seq} is not signed`,
    );
    const noKey = await keymaster(['audit', 'verify']);
    expect(noKey.code, noKey.stderr).toBe(0);
    expect(noKey.stdout).toContain(`from the retention checkpoint at seq ${checkpoint.seq} (unsigned)`);
    await edit(checkpoint.id, { signature: checkpoint.signature, public_key: checkpoint.public_key });
    expect(await verify()).toMatchObject({ ok: true });
  }, 60_000);

  it('neither prunes from nor checkpoints an edited checkpoint, and goes on once it holds again', async () => {
    const checkpoint = await latest();
    const first = () =>
      db()
        .selectFrom('audit_events')
        .select((eb) => eb.fn.min('seq').as('seq'))
        .executeTakeFirstOrThrow();
    expect(await first()).toEqual({ seq: checkpoint.seq + 1 });
    await edit(checkpoint.id, { count: checkpoint.count + 1 });
    // Every row left is past the retention now: pruning would sign a checkpoint over the edited start.
    await advance(server.clock.now() + 60 * day);
    expect((await latest()).id).toBe(checkpoint.id);
    expect(await first()).toEqual({ seq: checkpoint.seq + 1 });
    const refused = await server.request({ method: 'POST', url: '/v1/audit-events/checkpoints' });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toMatchObject({ code: 'audit_chain_broken' });

    await edit(checkpoint.id, { count: checkpoint.count });
    await advance(server.clock.now() + day);
    const next = await latest();
    expect(next.seq).toBeGreaterThan(checkpoint.seq);
    expect(next.signature).not.toBeNull();
    expect(await verify()).toMatchObject({ ok: true, from_seq: next.seq });
  }, 60_000);

  it('catches a chain rewritten from an edited checkpoint, every link of it holding', async () => {
    await seedCustomer(server, { plan: 'pro' });
    await seedCustomer(server, { plan: 'pro' });
    const checkpoint = await latest();
    const rows = await db().selectFrom('audit_events').selectAll().orderBy('seq').execute();
    // Whoever can write the database rewrites what is left from a start of their own: one action
    // changed, every hash recomputed through the trail's own append, the checkpoint and head to match.
    const forged = 'a'.repeat(64);
    await db().deleteFrom('audit_events').execute();
    await db().updateTable('audit_head').set({ seq: checkpoint.seq, hash: forged }).execute();
    await appendAudit(
      db(),
      rows.map((row, i) => ({
        at: row.at,
        actor: { type: row.actor_type as 'api_key', id: row.actor_id, requestId: row.request_id },
        action: i === 0 ? 'customer.nothing_to_see' : row.action,
        target: { type: row.target_type, id: row.target_id },
        customerId: row.customer_id,
        data: row.data === null ? null : JSON.parse(row.data),
      })),
    );
    await edit(checkpoint.id, { hash: forged });
    expect(await verify()).toMatchObject({ ok: false, first_bad_seq: checkpoint.seq });
    const unsignedRun = await keymaster(['audit', 'verify']);
    expect(unsignedRun.code).toBe(1);
    expect(unsignedRun.stderr).toContain('does not match its signature under the key it names');

    // Signed again, with their own key: only the right key shows it.
    await edit(checkpoint.id, {
      signature: signWith(otherKey.privateKey, { ...checkpoint, hash: forged }),
      public_key: otherKey.publicText,
    });
    expect(await verify()).toMatchObject({
      ok: false,
      first_bad_seq: checkpoint.seq,
      reason: expect.stringContaining('or it was signed by another key'),
    });
    const withKey = await keymaster(['audit', 'verify', '--public-key', key.publicFile]);
    expect(withKey.code).toBe(1);
    expect(withKey.stderr).toContain(
      `the retention checkpoint ${checkpoint.id} at seq ${checkpoint.seq} does not match`,
    );
    const noKey = await keymaster(['audit', 'verify']);
    expect(noKey.code, noKey.stderr).toBe(0);
    expect(noKey.stdout).toContain('signature holds under the key it names; give --public-key');
  }, 60_000);
});

/** A key set once pruning has begun: the unsigned start is refused until pruning stores a signed one. */
describeEachDialect('audit retention, a signing key set later', (dialect) => {
  const files = mkdtempSync(join(tmpdir(), 'keymaster-retention-'));
  const key = ed25519(files, 'ours');
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      start: '2026-01-01T00:00:00.000Z',
      env: { KEYMASTER_TEST_CLOCK: 'true', KEYMASTER_AUDIT_RETAIN_DAYS: '30' },
    });
  });
  afterAll(() => server.close());

  it('fails verification with the key until a pruning with the key signs the start', async () => {
    const start = server.clock.now();
    await seedCatalog(server);
    await seedCustomer(server, { plan: 'pro' });
    await advanceClock(server, start + 31 * day);
    const checkpoint = await server.keymaster.database.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('reason', '=', 'retention')
      .executeTakeFirstOrThrow();
    expect(checkpoint.signature).toBeNull();
    const keymaster = (env: Record<string, string>) =>
      runKeymaster(server.target, ['audit', 'verify'], { env: { KEYMASTER_AUDIT_SIGNING_KEY: '', ...env } });
    const noKey = await keymaster({});
    expect(noKey.code, noKey.stderr).toBe(0);
    expect(noKey.stdout).toContain(`from the retention checkpoint at seq ${checkpoint.seq} (unsigned)`);
    const withKey = await keymaster({ KEYMASTER_AUDIT_SIGNING_KEY: key.pem });
    expect(withKey.code).toBe(1);
    expect(withKey.stderr).toContain(
      `the retention checkpoint ${checkpoint.id} at seq ${checkpoint.seq} is not signed, though a signing key is set`,
    );

    // A node with the key prunes from the unsigned start, and stores a signed checkpoint.
    await seedCustomer(server, { plan: 'pro' });
    const pruner = createAuditPruner({
      db: server.keymaster.database.db,
      logger: pino({ level: 'silent' }),
      retainMs: 30 * day,
      signingKey: key.privateKey,
    });
    expect(await pruner.runDue(server.clock.now() + 31 * day)).toBeGreaterThan(0);
    const signed = await keymaster({ KEYMASTER_AUDIT_SIGNING_KEY: key.pem });
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout).toContain('(signature valid)');
  }, 60_000);
});
