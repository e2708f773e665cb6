import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';
import { appendAudit, sealAudit } from './trail.js';

interface AuditEvent {
  seq: number;
  actor: { type: string; id: string; request_id: string | null };
  action: string;
  target: { type: string; id: string };
  customer: string | null;
  data: { before: Record<string, unknown> | null; after: Record<string, unknown> } | null;
}
interface Verification {
  ok: boolean;
  count: number;
  first_bad_seq: number | null;
}

describeEachDialect('audit trail', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
  });
  afterAll(() => server.close());

  const list = async (query = '') =>
    expectStatus<{ data: AuditEvent[] }>(await server.request({ method: 'GET', url: `/v1/audit-events?${query}` }), 200)
      .data;
  const verify = async () =>
    expectStatus<Verification>(await server.request({ method: 'GET', url: '/v1/audit-events/verify' }), 200);
  const db = () => server.keymaster.database.db;

  it('records each subscription change with its actor, request id and changed fields', async () => {
    const { id, subscription } = await seedCustomer(server, { plan: 'pro' });
    expectStatus(
      await server.request({
        method: 'POST',
        url: `/v1/subscriptions/${subscription!.id}/cancel`,
        body: { when: 'now' },
        headers: { 'x-request-id': 'audit-cancel' },
      }),
      200,
    );
    const rows = await list(`customer=${id}`);
    expect(rows.map((row) => row.action)).toEqual(['subscription.cancel', 'subscription.create', 'customer.created']);
    const [cancel] = rows;
    expect(cancel).toMatchObject({
      actor: { type: 'api_key', id: 'key_env_admin' },
      target: { type: 'subscription', id: subscription!.id },
      customer: id,
    });
    expect(cancel?.data?.before).toMatchObject({ status: 'active' });
    expect(cancel?.data?.after).toMatchObject({ status: 'canceled' });
    // Only what changed.
    expect(cancel?.data?.after).not.toHaveProperty('plan');
    expect((await list('action=subscription.create')).every((row) => row.action === 'subscription.create')).toBe(true);
    expect(await verify()).toMatchObject({ ok: true, first_bad_seq: null });
  });

  it('appends in order under concurrent changes', async () => {
    await Promise.all(Array.from({ length: 12 }, () => seedCustomer(server, { plan: 'pro' })));
    await sealAudit(db());
    const rows = await db().selectFrom('audit_events').select('seq').orderBy('seq').execute();
    expect(rows.map((row) => row.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(await verify()).toMatchObject({ ok: true, count: rows.length });
  });

  it('names the first row edited, deleted or moved, from the API and the command line', async () => {
    const target = 3;
    const original = await db()
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '=', target)
      .executeTakeFirstOrThrow();
    const restore = async () => {
      await db().deleteFrom('audit_events').where('seq', '=', target).execute();
      await db().insertInto('audit_events').values(original).execute();
    };
    const edits = [
      () =>
        db().updateTable('audit_events').set({ action: 'subscription.nothing' }).where('seq', '=', target).execute(),
      () => db().updateTable('audit_events').set({ data: '{"before":null}' }).where('seq', '=', target).execute(),
      () =>
        db()
          .updateTable('audit_events')
          .set({ at: original.at + 1 })
          .where('seq', '=', target)
          .execute(),
      () => db().deleteFrom('audit_events').where('seq', '=', target).execute(),
    ];
    for (const edit of edits) {
      await edit();
      expect(await verify()).toMatchObject({ ok: false, first_bad_seq: target });
      const run = await keymaster(['audit', 'verify']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`seq ${target}`);
      await restore();
    }
    const run = await keymaster(['audit', 'verify']);
    expect(run.code, run.stderr).toBe(0);
    // A row removed from the end: the head still names it.
    const last = await db().selectFrom('audit_events').selectAll().orderBy('seq', 'desc').executeTakeFirstOrThrow();
    await db().deleteFrom('audit_events').where('seq', '=', last.seq).execute();
    expect(await verify()).toMatchObject({ ok: false, first_bad_seq: last.seq });
    await db().insertInto('audit_events').values(last).execute();
    expect(await verify()).toMatchObject({ ok: true });
    // Each run of the command line starts a process: seconds each on a loaded machine.
  }, 90_000);

  it('keeps verifying after a customer is erased, with their data gone and the erasure recorded', async () => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    const erased = await server.request({
      method: 'DELETE',
      url: `/v1/customers/${id}`,
      headers: { 'x-request-id': 'erase-1' },
    });
    expect(erased.statusCode).toBe(204);
    const rows = await list(`customer=${id}`);
    expect(rows[0]).toMatchObject({
      action: 'customer.erased',
      actor: { type: 'api_key', id: 'key_env_admin', request_id: 'erase-1' },
    });
    expect(rows.every((row) => row.data === null)).toBe(true);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('seals and verifies changes whose text holds a lone surrogate, which a JSON escape can carry', async () => {
    const id = uniqueKey('cus');
    // Created, then updated (the update compares the fields), each with `\ud800`-style escapes.
    const bodies = [
      { name: 'x\ud800y', traits: { 'k\ud800': 'v\udfff' } },
      { name: 'z\udfff', traits: {} },
    ];
    for (const [i, body] of bodies.entries()) {
      expectStatus(await server.request({ method: 'PUT', url: `/v1/customers/${id}`, body }), i === 0 ? 201 : 200);
    }
    await sealAudit(db());
    const rows = await list(`customer=${id}`);
    expect(rows.map((row) => row.action)).toEqual(['customer.updated', 'customer.created']);
    expect(rows[0]!.data!.after).toMatchObject({ name: 'z\ufffd' });
    // Rows after them still seal.
    await seedCustomer(server);
    await sealAudit(db());
    expect(await db().selectFrom('audit_pending').select('id').execute()).toEqual([]);
    expect(await verify()).toMatchObject({ ok: true });
  });

  it('seals without blocking while another process holds the write lock (SQLite), and after it', async () => {
    const target = server.target;
    if (target.dialect !== 'sqlite') return;
    const id = 'held-lock';
    await appendAudit(db(), [
      {
        at: server.clock.now(),
        actor: { type: 'system', id: 'test' },
        action: 'customer.updated',
        target: { type: 'customer', id },
        customerId: id,
        data: { after: { name: 'x' } },
      },
    ]);
    // Taken before the node's own sealer next looks (its timer cannot run between these lines).
    const other = new SqliteDatabase(target.file);
    other.exec('begin immediate');
    try {
      expect(await db().selectFrom('audit_pending').select('id').execute()).toHaveLength(1);
      const started = performance.now();
      expect(await sealAudit(db())).toBe(0);
      // SQLite's busy timeout is 5 s; the seal gave up at once instead of freezing the node.
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      other.exec('rollback');
      other.close();
    }
    expect(await sealAudit(db())).toBeGreaterThan(0);
    expect((await list(`customer=${id}`)).length).toBeGreaterThan(0);
    expect(await verify()).toMatchObject({ ok: true });
  });

  /** The real command line, from the build, on the test server's database. */
  const keymaster = (args: string[]) => runKeymaster(server.target, args);
});
