import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, featureBody, planBody, seedCatalog, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

interface AuditEvent {
  seq: number;
  actor: { type: string; id: string; request_id: string | null };
  action: string;
  target: { type: string; id: string };
  customer: string | null;
  data: ({ before: Record<string, unknown> | null; after: Record<string, unknown> } & Record<string, unknown>) | null;
}

/**
 * Every write through the API to the catalog, customers, grants, API keys, webhook endpoints,
 * alert rules and customer tokens appends one row,
 * made by a key of its own so the actor is not the environment's admin key.
 */
describeEachDialect('audit trail of API writes', (dialect) => {
  let server: TestServer;
  let key: { id: string; secret: string };
  let requests = 0;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      // Endpoints on this machine, and no deliveries made while the suite runs.
      env: { KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true', KEYMASTER_WEBHOOK_POLL_MS: '60000' },
    });
    await seedCatalog(server);
    key = expectStatus(
      await server.request({ method: 'POST', url: '/v1/api-keys', body: { name: 'auditor', scopes: ['admin'] } }),
      201,
    );
  });
  afterAll(() => server.close());

  /** Sends a write as `key`, with a request id of its own; answers the body and the request id. */
  async function write(input: { method: 'POST' | 'PUT' | 'PATCH' | 'DELETE'; url: string; body?: unknown }) {
    const requestId = `audit-write-${++requests}`;
    const response = await server.request({
      ...input,
      headers: { authorization: `Bearer ${key.secret}`, 'x-request-id': requestId },
    });
    expect(response.statusCode, response.body).toBeLessThan(300);
    return { body: response.statusCode === 204 ? {} : response.json<Record<string, unknown>>(), requestId };
  }

  const rowsOf = async (target: { type: string; id: string }) =>
    expectStatus<{ data: AuditEvent[] }>(
      await server.request({
        method: 'GET',
        url: `/v1/audit-events?target_type=${target.type}&target_id=${target.id}&limit=100`,
      }),
      200,
    ).data.reverse();

  /** The one row the request appended: there is exactly one, by `key`, for the target. */
  async function rowOf(input: { requestId: string; target: { type: string; id: string } }): Promise<AuditEvent> {
    const rows = (await rowsOf(input.target)).filter((row) => row.actor.request_id === input.requestId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: { type: 'api_key', id: key.id }, target: input.target });
    return rows[0]!;
  }

  it('records features created, updated and switched off, with the fields that changed', async () => {
    const feature = featureBody({ name: 'Exports' });
    const target = { type: 'feature', id: feature.key };
    const created = await write({ method: 'POST', url: '/v1/features', body: feature });
    expect(await rowOf({ requestId: created.requestId, target })).toMatchObject({
      action: 'feature.created',
      data: { before: null, after: { key: feature.key, name: 'Exports', type: 'boolean' } },
    });
    const renamed = await write({ method: 'PATCH', url: `/v1/features/${feature.key}`, body: { name: 'CSV exports' } });
    expect((await rowOf({ requestId: renamed.requestId, target })).data).toEqual({
      before: { name: 'Exports' },
      after: { name: 'CSV exports' },
    });
    const disabled = await write({ method: 'PATCH', url: `/v1/features/${feature.key}`, body: { status: 'disabled' } });
    expect(await rowOf({ requestId: disabled.requestId, target })).toMatchObject({
      action: 'feature.disabled',
      data: { before: { status: 'active' }, after: { status: 'disabled' } },
    });
    // A patch that changes nothing changed nothing.
    await write({ method: 'PATCH', url: `/v1/features/${feature.key}`, body: { name: 'CSV exports' } });
    expect((await rowsOf(target)).map((row) => row.action)).toEqual([
      'feature.created',
      'feature.updated',
      'feature.disabled',
    ]);
  });

  it('records plans created, edited, published, re-drafted and archived, each with its version', async () => {
    const plan = planBody({ name: 'Team', entitlements: [{ feature: 'sso', enabled: true }] });
    const target = { type: 'plan', id: plan.key };
    const steps = [
      await write({ method: 'POST', url: '/v1/plans', body: plan }),
      await write({ method: 'PATCH', url: `/v1/plans/${plan.key}`, body: { name: 'Teams' } }),
      await write({ method: 'POST', url: `/v1/plans/${plan.key}/publish`, body: {} }),
      await write({ method: 'PATCH', url: `/v1/plans/${plan.key}`, body: { name: 'Team plan' } }),
      await write({ method: 'POST', url: `/v1/plans/${plan.key}/archive` }),
    ];
    const rows = await Promise.all(steps.map(({ requestId }) => rowOf({ requestId, target })));
    expect(rows.map((row) => [row.action, row.data?.version ?? row.data?.versions])).toEqual([
      ['plan.created', 1],
      ['plan.updated', 1],
      ['plan.published', 1],
      ['plan.updated', 2],
      ['plan.archived', [1]],
    ]);
    expect(rows[0]?.data?.after).toMatchObject({ name: 'Team', entitlements: [{ feature: 'sso', enabled: true }] });
    expect(rows[1]?.data).toMatchObject({ before: { name: 'Team' }, after: { name: 'Teams' } });
    expect(rows[2]?.data).toMatchObject({ before: { status: 'draft' }, after: { status: 'published' } });
    expect(rows[3]?.data).toMatchObject({ before: { name: 'Teams' }, after: { name: 'Team plan' } });
    expect((await rowsOf(target)).length).toBe(5);
  });

  it('records customers created and updated through PUT, about the customer', async () => {
    const id = uniqueKey('cus');
    const target = { type: 'customer', id };
    const created = await write({ method: 'PUT', url: `/v1/customers/${id}`, body: { name: 'Ada', traits: { a: 1 } } });
    expect(await rowOf({ requestId: created.requestId, target })).toMatchObject({
      action: 'customer.created',
      customer: id,
      data: { before: null, after: { name: 'Ada', email: null, traits: { a: 1 } } },
    });
    const updated = await write({ method: 'PUT', url: `/v1/customers/${id}`, body: { email: 'ada@example.com' } });
    expect(await rowOf({ requestId: updated.requestId, target })).toMatchObject({
      action: 'customer.updated',
      data: { before: { email: null }, after: { email: 'ada@example.com' } },
    });
    await write({ method: 'PUT', url: `/v1/customers/${id}`, body: { email: 'ada@example.com' } });
    expect((await rowsOf(target)).length).toBe(2);
  });

  it('records grants created and revoked, once even when revoked twice', async () => {
    const customer = uniqueKey('cus');
    await write({ method: 'PUT', url: `/v1/customers/${customer}`, body: {} });
    const created = await write({
      method: 'POST',
      url: `/v1/customers/${customer}/grants`,
      body: { feature: 'sso', enabled: true, reason: 'pilot' },
    });
    const target = { type: 'grant', id: created.body.id as string };
    expect(await rowOf({ requestId: created.requestId, target })).toMatchObject({
      action: 'grant.created',
      customer,
      data: { before: null, after: { feature: 'sso', mode: 'override', enabled: true, reason: 'pilot' } },
    });
    const revoked = await write({ method: 'DELETE', url: `/v1/grants/${target.id}` });
    await write({ method: 'DELETE', url: `/v1/grants/${target.id}` });
    expect(await rowOf({ requestId: revoked.requestId, target })).toMatchObject({
      action: 'grant.revoked',
      customer,
      data: { before: { revoked_at: null }, after: { revoked_at: expect.any(String) } },
    });
    expect((await rowsOf(target)).length).toBe(2);
  });

  it('records API keys created and revoked without their secret or its hash', async () => {
    const created = await write({ method: 'POST', url: '/v1/api-keys', body: { name: 'ci', scopes: ['admin'] } });
    const target = { type: 'api_key', id: created.body.id as string };
    const revoked = await write({ method: 'DELETE', url: `/v1/api-keys/${target.id}` });
    expect(await rowOf({ requestId: created.requestId, target })).toMatchObject({
      action: 'api_key.created',
      data: { before: null, after: { name: 'ci' } },
    });
    expect(await rowOf({ requestId: revoked.requestId, target })).toMatchObject({ action: 'api_key.revoked' });
    const { secret_hash } = await server.keymaster.database.db
      .selectFrom('api_keys')
      .select('secret_hash')
      .where('id', '=', target.id)
      .executeTakeFirstOrThrow();
    const stored = await server.keymaster.database.db.selectFrom('audit_events').select('data').execute();
    for (const { data } of stored) {
      expect(data ?? '').not.toContain(created.body.secret as string);
      expect(data ?? '').not.toContain(secret_hash);
    }
  });

  it('records webhook endpoints created, changed, rotated and deleted, never with a secret', async () => {
    const created = await write({
      method: 'POST',
      url: '/v1/webhook-endpoints',
      body: { url: 'http://127.0.0.1:9/hooks', events: ['subscription.created'] },
    });
    const target = { type: 'webhook_endpoint', id: created.body.id as string };
    expect(await rowOf({ requestId: created.requestId, target })).toMatchObject({
      action: 'webhook_endpoint.created',
      data: {
        before: null,
        after: {
          url: 'http://127.0.0.1:9/hooks',
          events: ['subscription.created'],
          description: null,
          status: 'enabled',
        },
      },
    });
    const disabled = await write({
      method: 'PATCH',
      url: `/v1/webhook-endpoints/${target.id}`,
      body: { status: 'disabled', description: 'paused' },
    });
    expect((await rowOf({ requestId: disabled.requestId, target })).data).toEqual({
      before: { status: 'enabled', description: null },
      after: { status: 'disabled', description: 'paused' },
    });
    // A patch that changes nothing changed nothing.
    await write({ method: 'PATCH', url: `/v1/webhook-endpoints/${target.id}`, body: { status: 'disabled' } });
    const rotated = await write({ method: 'POST', url: `/v1/webhook-endpoints/${target.id}/rotate-secret` });
    expect(await rowOf({ requestId: rotated.requestId, target })).toMatchObject({
      action: 'webhook_endpoint.secret_rotated',
      data: { before: null, after: { previous_secret_until: expect.any(String) } },
    });
    const deleted = await write({ method: 'DELETE', url: `/v1/webhook-endpoints/${target.id}` });
    expect(await rowOf({ requestId: deleted.requestId, target })).toMatchObject({
      action: 'webhook_endpoint.deleted',
      data: { before: { url: 'http://127.0.0.1:9/hooks', status: 'disabled' }, after: null },
    });
    expect((await rowsOf(target)).map((row) => row.action)).toEqual([
      'webhook_endpoint.created',
      'webhook_endpoint.updated',
      'webhook_endpoint.secret_rotated',
      'webhook_endpoint.deleted',
    ]);
    const stored = await server.keymaster.database.db.selectFrom('audit_events').select('data').execute();
    for (const secret of [created.body.secret, rotated.body.secret] as string[]) {
      expect(secret).toMatch(/^whsec_/);
      for (const { data } of stored) expect(data ?? '').not.toContain(secret.slice('whsec_'.length));
    }
  });

  it('records alert rules created and deleted, about the customer they watch', async () => {
    const customer = uniqueKey('cus');
    await write({ method: 'PUT', url: `/v1/customers/${customer}`, body: {} });
    const created = await write({
      method: 'POST',
      url: '/v1/alert-rules',
      body: { feature: 'api_calls', type: 'percent', value: 80, customer },
    });
    const target = { type: 'alert_rule', id: created.body.id as string };
    const fields = { feature: 'api_calls', type: 'percent', value: 80, plan: null, customer };
    expect(await rowOf({ requestId: created.requestId, target })).toMatchObject({
      action: 'alert_rule.created',
      customer,
      data: { before: null, after: fields },
    });
    const deleted = await write({ method: 'DELETE', url: `/v1/alert-rules/${target.id}` });
    expect(await rowOf({ requestId: deleted.requestId, target })).toMatchObject({
      action: 'alert_rule.deleted',
      customer,
      data: { before: fields, after: null },
    });
    // A rule refused appends nothing.
    const refused = await server.request({
      method: 'POST',
      url: '/v1/alert-rules',
      body: { feature: 'sso', type: 'percent', value: 80 },
    });
    expect(refused.statusCode).toBe(400);
    expect((await rowsOf(target)).length).toBe(2);
  });

  it('records customer tokens issued, about the customer, without the token', async () => {
    const customer = uniqueKey('cus');
    await write({ method: 'PUT', url: `/v1/customers/${customer}`, body: {} });
    const issued = await write({ method: 'POST', url: '/v1/customer-tokens', body: { customer, ttl_seconds: 600 } });
    const row = await rowOf({ requestId: issued.requestId, target: { type: 'customer', id: customer } });
    expect(row).toMatchObject({
      action: 'customer_token.issued',
      customer,
      data: { before: null, after: { token_id: expect.stringMatching(/^ctok_/), expires_at: issued.body.expires_at } },
    });
    const token = issued.body.token as string;
    expect(JSON.stringify(row)).not.toContain(token);
    expect(JSON.stringify(row)).not.toContain(token.split('.')[2]!);
    // No token for a customer that does not exist, and no row.
    const before = (await rowsOf({ type: 'customer', id: 'cus_nobody' })).length;
    const missing = await server.request({
      method: 'POST',
      url: '/v1/customer-tokens',
      body: { customer: 'cus_nobody' },
    });
    expect(missing.statusCode).toBe(404);
    expect((await rowsOf({ type: 'customer', id: 'cus_nobody' })).length).toBe(before);
  });

  it('rolls the row back with a write that fails, and the chain still verifies', async () => {
    const before = (await server.keymaster.database.db.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow())
      .seq;
    const taken = await server.request({ method: 'POST', url: '/v1/features', body: featureBody({ key: 'sso' }) });
    expect(taken.statusCode).toBe(409);
    const after = (await server.keymaster.database.db.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow())
      .seq;
    expect(after).toBe(before);
    expect(expectStatus(await server.request({ method: 'GET', url: '/v1/audit-events/verify' }), 200)).toMatchObject({
      ok: true,
      first_bad_seq: null,
    });
  });
});
