import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, grantBody, nowIso, seedCatalog, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { databaseUrl } from '../../test-support/processes.js';
import { startTestServer, type TestServer, testAdminKey } from '../../test-support/server.js';
import { exportSections } from './export-sections.js';
import { customerTables } from './store.js';

type ExportDocument = Record<string, unknown[]> & {
  version: number;
  exported_at: string;
  customer: { id: string };
};
type Page<T> = { data: T[]; has_more: boolean };

const cli = fileURLToPath(new URL('../../../dist/cli.js', import.meta.url));

/** Tables that hold no rows about one customer (the catalog, keys, bookkeeping). */
const notAboutCustomers = new Set([
  'customers',
  'changes',
  'api_keys',
  'settings',
  'features',
  'plans',
  'plan_versions',
  'audit_head',
  // Audit rows waiting for the chain: every export seals them into `audit_events` before it reads.
  'audit_pending',
  'outbox_consumers',
  'webhook_endpoints',
]);

describeEachDialect('customer export (GDPR)', (dialect) => {
  let server: TestServer;
  let dir: string;
  beforeAll(async () => {
    // Real time at the start: the command line below reads the system clock.
    server = await startTestServer({
      dialect,
      start: new Date().toISOString(),
      env: { KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true', KEYMASTER_WEBHOOK_POLL_MS: '60000' },
    });
    dir = mkdtempSync(join(tmpdir(), 'keymaster-export-'));
    await seedCatalog(server);
    for (const [key, aggregation] of [
      ['export_calls', 'count'],
      ['export_users', 'unique_count'],
    ] as const) {
      const meter = {
        event_type: 'export.call',
        aggregation,
        ...(aggregation === 'count' ? {} : { property: 'user' }),
      };
      const body = { key, name: key, type: 'metered', meter };
      expectStatus(await server.request({ method: 'POST', url: '/v1/features', body }), 201);
    }
    // Nothing listens there: each delivery fails and is recorded with its attempt.
    const hook = { url: 'http://127.0.0.1:9/hook' };
    expectStatus(await server.request({ method: 'POST', url: '/v1/webhook-endpoints', body: hook }), 201);
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  let base: string | undefined;
  /** The server's address, listening from the first call on. */
  const listening = async () => (base ??= await server.listen());
  const exportOf = (id: string, headers?: Record<string, string>) =>
    server.request({
      method: 'GET',
      url: `/v1/customers/${encodeURIComponent(id)}/export`,
      ...(headers && { headers }),
    });
  const post = async (url: string, body: unknown, status: number, headers?: Record<string, string>) =>
    expectStatus(await server.request({ method: 'POST', url, body, ...(headers && { headers }) }), status);
  const events = (customer: string, from: number, n: number) => ({
    events: Array.from({ length: n }, (_, i) => ({
      id: `${customer}-${from + i}`,
      customer,
      type: 'export.call',
      properties: { user: `u${(from + i) % 7}` },
    })),
  });

  /** A customer with a row of every kind the API can make, the outbox and webhooks run. */
  const customerWithEverything = async () => {
    const seeded = await seedCustomer(server, { plan: 'pro', traits: { country: 'DE' } });
    const { id } = seeded;
    for (const feature of ['export_calls', 'export_users']) {
      await post(`/v1/customers/${id}/grants`, grantBody({ feature, limit: 10 }), 201);
    }
    await post(`/v1/customers/${id}/grants`, grantBody({ feature: 'api_calls', limit: 5, mode: 'credit' }), 201, {
      'idempotency-key': `grant-${id}`,
    });
    await post('/v1/alert-rules', { feature: 'export_calls', type: 'percent', value: 80, customer: id }, 201);
    await post('/v1/events', events(id, 0, 9), 200);
    await post('/v1/consume', { customer: id, feature: 'api_calls', quantity: 2, idempotency_key: `c-${id}` }, 200);
    await post('/v1/reservations', { customer: id, feature: 'api_calls', quantity: 1 }, 201);
    await post(`/v1/customers/${id}/usage`, { feature: 'seats', set: 2 }, 200);
    await post(`/v1/subscriptions/${seeded.subscription!.id}/cancel`, {}, 200);
    await server.keymaster.notifications.runDue();
    await server.keymaster.webhooks.runDue();
    return id;
  };

  it('holds every kind of row about the customer, in its API form, and nothing about anyone else', async () => {
    const id = await customerWithEverything();
    const other = await customerWithEverything();
    const response = await exportOf(id);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['content-disposition']).toBe(
      `attachment; filename="keymaster-customer-${id}.json"; filename*=UTF-8''keymaster-customer-${id}.json`,
    );
    const doc = JSON.parse(response.body) as ExportDocument;
    expect(Object.keys(doc)).toEqual(['version', 'exported_at', 'customer', ...exportSections.map((s) => s.name)]);
    expect(doc.version).toBe(1);
    expect(doc.exported_at).toBe(nowIso(server));
    expect(doc.customer).toEqual(
      expectStatus(await server.request({ method: 'GET', url: `/v1/customers/${id}` }), 200),
    );
    // Rows of every kind this customer has (Stripe, billing and contracts are not set up here).
    const counts = Object.fromEntries(exportSections.map((s) => [s.name, doc[s.name]!.length]));
    expect(counts).toMatchObject({
      subscriptions: 1,
      grants: 3,
      credit_balances: 1,
      usage_events: 9,
      usage_distinct_values: 7,
      consumptions: 1,
      reservations: 1,
      alert_rules: 1,
      alert_firings: 1,
      stored_answers: 1,
      stripe_events: 0,
      billing_links: 0,
      contract_revisions: 0,
    });
    for (const name of [
      'subscription_history',
      'notifications',
      'usage_counters',
      'usage_history',
      'webhook_deliveries',
      'webhook_attempts',
      'audit_events',
      'domain_events',
    ]) {
      expect(counts[name], name).toBeGreaterThan(0);
    }
    expect(JSON.stringify(doc)).not.toContain(other);

    // The API's own forms, as its routes answer them.
    const get = async <T>(url: string) => expectStatus<Page<T>>(await server.request({ method: 'GET', url }), 200).data;
    const byId = (rows: unknown[]) => [...(rows as { id: string }[])].sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(doc.subscriptions).toEqual(await get(`/v1/customers/${id}/subscriptions`));
    expect(byId(doc.grants!)).toEqual(byId(await get(`/v1/customers/${id}/grants?limit=100`)));
    expect(byId(doc.notifications!)).toEqual(byId(await get(`/v1/customers/${id}/notifications`)));
    expect(doc.audit_events).toEqual((await get(`/v1/audit-events?customer=${id}&limit=100`)).reverse());
    const subscription = (doc.subscriptions![0] as { id: string }).id;
    expect(doc.subscription_history).toEqual((await get(`/v1/subscriptions/${subscription}/history`)).reverse());
    expect(doc.usage_events![0]).toEqual({
      id: `${id}-0`,
      source: '',
      type: 'export.call',
      timestamp: nowIso(server),
      properties: { user: 'u0' },
      received_at: nowIso(server),
    });
    expect(doc.webhook_deliveries![0]).toMatchObject({
      status: 'pending',
      attempts: 1,
      payload: { type: expect.any(String) },
    });

    // The document is what the OpenAPI document says it is.
    const openapi = expectStatus<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>(
      await server.request({ method: 'GET', url: '/openapi.json' }),
      200,
    );
    const documented = openapi.paths['/v1/customers/{id}/export']?.get?.responses['200'] as {
      content: { 'application/json': { schema: object } };
    };
    const ajv = addFormats.default(new Ajv.default({ strict: false, allErrors: true }));
    const validate = ajv.compile(documented.content['application/json'].schema);
    expect(validate(doc), ajv.errorsText(validate.errors)).toBe(true);
  });

  it('has a section for every table erasure empties, and for every table that holds rows about a customer', async () => {
    const sectioned = new Set(exportSections.map((s) => s.table));
    for (const table of customerTables) expect(sectioned.has(table), table).toBe(true);
    expect(sectioned.has('audit_events')).toBe(true);
    // Any table a new feature adds that names this customer, in a column of any name.
    const id = await customerWithEverything();
    const { db } = server.keymaster.database;
    // On PostgreSQL, only this suite's schema: other suites' come and go meanwhile.
    const schema = server.target.dialect === 'postgres' ? server.target.schema : undefined;
    const tables = (await db.introspection.getTables())
      .filter((table) => schema === undefined || table.schema === schema)
      .map((table) => table.name)
      .filter((name) => !notAboutCustomers.has(name) && !name.startsWith('kysely_'));
    for (const table of tables) {
      const rows = await db
        .selectFrom(table as 'events')
        .selectAll()
        .execute();
      const mentioning = rows.some((row) => JSON.stringify(row).includes(`"${id}"`));
      if (mentioning) expect(sectioned.has(table as 'events'), table).toBe(true);
    }
  });

  it('exports 5,000 usage events completely, read a page at a time among other customers’ events', async () => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    const { id: other } = await seedCustomer(server, { plan: 'pro' });
    for (let batch = 0; batch < 5; batch++) {
      await post('/v1/events', events(id, batch * 1000, 1000), 200);
      await post('/v1/events', events(other, batch * 100, 100), 200);
    }
    const response = await exportOf(id);
    expect(response.statusCode).toBe(200);
    const doc = JSON.parse(response.body) as ExportDocument;
    const ids = (doc.usage_events as { id: string }[]).map((e) => e.id);
    expect(ids).toHaveLength(5000);
    expect(new Set(ids).size).toBe(5000);
    expect(ids.every((e) => e.startsWith(`${id}-`))).toBe(true);
  });

  it('serves on when a client leaves part way', async () => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    for (let batch = 0; batch < 3; batch++) await post('/v1/events', events(id, batch * 1000, 1000), 200);
    const base = await listening();
    // A socket of its own (no keep-alive pool), closed after the first piece of the document.
    const first = await new Promise<string>((resolve, reject) => {
      const request = get(
        `${base}/v1/customers/${id}/export`,
        { agent: false, headers: { authorization: `Bearer ${testAdminKey}` } },
        (response) => {
          expect(response.statusCode).toBe(200);
          response.once('data', (chunk: Buffer) => {
            request.destroy();
            resolve(chunk.toString('utf8'));
          });
        },
      );
      request.on('error', reject);
    });
    expect(first.startsWith('{"version":1,')).toBe(true);
    const again = await exportOf(id);
    expect(again.statusCode).toBe(200);
    expect((JSON.parse(again.body) as ExportDocument).usage_events).toHaveLength(3000);
  });

  it('answers 404 customer_not_found for an unknown customer, and once the customer is erased', async () => {
    expectProblem(await exportOf('nobody'), { status: 404, code: 'customer_not_found' });
    const id = await customerWithEverything();
    expect((await exportOf(id)).statusCode).toBe(200);
    expect((await server.request({ method: 'DELETE', url: `/v1/customers/${id}` })).statusCode).toBe(204);
    expectProblem(await exportOf(id), { status: 404, code: 'customer_not_found' });
  });

  it('refuses a customer token, even for its own customer', async () => {
    const { id } = await seedCustomer(server, { plan: 'pro' });
    const { token } = expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: id } }),
      201,
    );
    expectProblem(await exportOf(id, { authorization: `Bearer ${token}` }), {
      status: 403,
      code: 'customer_token_forbidden',
    });
  });

  it('names the file with an ASCII stand-in and the id as it is, for any id', async () => {
    const id = `çà-ü:org|"x"(1)-${uniqueKey('n')}`;
    expectStatus(
      await server.request({ method: 'PUT', url: `/v1/customers/${encodeURIComponent(id)}`, body: {} }),
      201,
    );
    const response = await exportOf(id);
    expect(response.statusCode).toBe(200);
    const disposition = String(response.headers['content-disposition']);
    expect(disposition).toMatch(/^attachment; filename="keymaster-customer-[\w.@+-]+\.json"; filename\*=UTF-8''/);
    expect(decodeURIComponent(disposition.split("UTF-8''")[1]!)).toBe(`keymaster-customer-${id}.json`);
    expect((JSON.parse(response.body) as ExportDocument).customer.id).toBe(id);
  });

  describe('keymaster customers export', () => {
    const keymaster = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [cli, ...args],
          { env: { ...process.env, DATABASE_URL: databaseUrl(server.target), LOG_LEVEL: 'warn' } },
          (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const withoutTime = (doc: ExportDocument) => ({ ...doc, exported_at: undefined });

    it('writes the same document as the API, to a file or to stdout', async () => {
      const id = await customerWithEverything();
      const api = JSON.parse((await exportOf(id)).body) as ExportDocument;
      const file = join(dir, `${id}.json`);
      const written = await keymaster(['customers', 'export', id, '--output', file]);
      expect(written, written.stderr).toMatchObject({ code: 0 });
      const fromFile = JSON.parse(readFileSync(file, 'utf8')) as ExportDocument;
      expect(withoutTime(fromFile)).toEqual(withoutTime(api));
      const printed = await keymaster(['customers', 'export', id]);
      expect(printed.code, printed.stderr).toBe(0);
      expect(withoutTime(JSON.parse(printed.stdout) as ExportDocument)).toEqual(withoutTime(api));
    });

    it('exits 1 for an unknown customer and writes no file', async () => {
      const file = join(dir, 'nobody.json');
      const result = await keymaster(['customers', 'export', 'nobody', '--output', file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('Customer "nobody" does not exist.');
      expect(existsSync(file)).toBe(false);
    });
  });
});
