import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { createAuditPruner } from './retention.js';

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
  const advance = async (to: number) =>
    expectStatus(
      await server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to: new Date(to).toISOString() } }),
      200,
    );
  const verify = async () =>
    expectStatus<Verification>(await server.request({ method: 'GET', url: '/v1/audit-events/verify' }), 200);
  const checkpoints = async (reason: string) =>
    expectStatus<{ data: Checkpoint[] }>(
      await server.request({ method: 'GET', url: `/v1/audit-events/checkpoints?reason=${reason}` }),
      200,
    ).data;
  const seqs = async () =>
    (await db().selectFrom('audit_events').select('seq').orderBy('seq').execute()).map((row) => row.seq);

  it('prunes rows past the retention up to a checkpoint, and verification starts from it', async () => {
    const start = server.clock.now();
    await seedCatalog(server);
    await seedCustomer(server, { plan: 'pro' });
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
