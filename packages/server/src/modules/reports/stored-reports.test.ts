import { gunzipSync } from 'node:zlib';
import type { StoredReport, StoredUsageRevenueReport, UsageRevenueReport } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, grantBody, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestResponse, type TestServer } from '../../test-support/server.js';

type Page<T> = { data: T[]; has_more: boolean; next_cursor: string | null };

const march = { from: '2026-03-01T00:00:00.000Z', to: '2026-04-01T00:00:00.000Z' };

/** Stored reports through the API and the command line: made, listed, served, erased from. */
describeEachDialect('stored reports', (dialect) => {
  let server: TestServer;
  const subscriptions: Record<string, string> = {};
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: march.from, env: { KEYMASTER_TEST_CLOCK: 'true' } });
    await seedCatalog(server);
    for (const [id, plan] of [
      ['paying', 'pro'],
      ['trial', 'pro'],
      ['comped', 'free'],
    ] as const) {
      const { subscription } = await seedCustomer(server, {
        id,
        plan,
        ...(id === 'trial' ? { subscription: { trial_days: 14, on_trial_end: 'activate' as const } } : {}),
      });
      subscriptions[id] = subscription!.id;
    }
    expectStatus(
      await server.request({
        method: 'POST',
        url: '/v1/customers/trial/grants',
        body: grantBody({ feature: 'api_calls', mode: 'add', limit: 500 }),
      }),
      201,
    );
    const consumed = { customer: 'paying', feature: 'api_calls', quantity: 85_000 };
    expectStatus(await server.request({ method: 'POST', url: '/v1/consume', body: consumed }), 200);
    expectStatus(await server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to: march.to } }), 200);
  });
  afterAll(() => server.close());

  const store = async (body: Record<string, unknown> = march) =>
    expectStatus<StoredReport>(await server.request({ method: 'POST', url: '/v1/reports/usage-revenue', body }), 201);
  const onDemand = async (query = `from=${march.from}&to=${march.to}`) =>
    expectStatus<UsageRevenueReport>(
      await server.request({ method: 'GET', url: `/v1/reports/usage-revenue?${query}` }),
      200,
    );
  const fetchStored = (url: string, acceptEncoding?: string) =>
    server.request({ method: 'GET', url, headers: { 'accept-encoding': acceptEncoding } });
  const documentOf = (response: TestResponse) =>
    JSON.parse(
      (response.headers['content-encoding'] === 'gzip'
        ? gunzipSync(response.rawPayload)
        : response.rawPayload
      ).toString('utf8'),
    ) as StoredUsageRevenueReport;
  const listAll = async (query = '') => {
    const all: StoredReport[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<StoredReport> = expectStatus<Page<StoredReport>>(
        await server.request({
          method: 'GET',
          url: `/v1/reports?limit=2${query}${cursor ? `&cursor=${cursor}` : ''}`,
        }),
        200,
      );
      expect(page.data.length).toBeLessThanOrEqual(2);
      all.push(...page.data);
      cursor = page.next_cursor;
      expect(page.has_more).toBe(cursor !== null);
    } while (cursor);
    return all;
  };

  describe('through the API', () => {
    it('stores a report and serves what the on-demand route answers, gzip-compressed as stored or not', async () => {
      const stored = await store();
      expect(stored).toEqual({
        id: expect.stringMatching(/^rpt_/),
        kind: 'usage-revenue',
        from: march.from,
        to: march.to,
        filters: { plan: null, flag: null },
        made: 'api',
        scheduled_for: null,
        created_at: march.to,
        url: `/v1/reports/${stored.id}`,
        customers: 3,
        size: expect.any(Number),
        compressed_size: expect.any(Number),
      });
      expect(stored.compressed_size).toBeLessThan(stored.size);
      const expected = { id: stored.id, ...(await onDemand()) };

      const gzipped = await fetchStored(stored.url, 'gzip, deflate, br');
      expect(gzipped.statusCode).toBe(200);
      expect(gzipped.headers).toMatchObject({
        'content-type': 'application/json; charset=utf-8',
        'content-encoding': 'gzip',
        'content-length': String(stored.compressed_size),
        vary: 'Accept-Encoding',
      });
      expect(gzipped.rawPayload.length).toBe(stored.compressed_size);
      expect(documentOf(gzipped)).toEqual(expected);

      for (const refusing of [undefined, 'identity', 'gzip;q=0, identity', 'br']) {
        const plain = await fetchStored(stored.url, refusing);
        expect(plain.statusCode, refusing).toBe(200);
        expect(plain.headers['content-encoding'], refusing).toBeUndefined();
        expect(plain.rawPayload.length).toBe(stored.size);
        expect(documentOf(plain)).toEqual(expected);
      }
      expect((await fetchStored(stored.url, 'br;q=1, *;q=0.5')).headers['content-encoding']).toBe('gzip');
    });

    it('stores the filters and serves what the on-demand route answers with them', async () => {
      const stored = await store({ ...march, plan: 'pro', flag: 'upsell' });
      expect(stored).toMatchObject({ filters: { plan: 'pro', flag: 'upsell' }, customers: 1 });
      const document = documentOf(await fetchStored(stored.url, 'gzip'));
      expect(document).toEqual({
        id: stored.id,
        ...(await onDemand(`from=${march.from}&to=${march.to}&plan=pro&flag=upsell`)),
      });
      expect(document.data.map((row) => row.customer)).toEqual(['paying']);
    });

    it('lists the stored reports newest first, a page at a time', async () => {
      const made = [await store(), await store({ ...march, plan: 'free' })];
      const all = await listAll();
      expect(all.length).toBeGreaterThanOrEqual(made.length);
      expect(all.map((r) => r.id)).toEqual(
        all
          .map((r) => r.id)
          .sort()
          .reverse(),
      );
      expect(all.slice(0, 2)).toEqual(made.reverse());
      expect(await listAll('&made=schedule')).toEqual([]);
      expect((await listAll('&made=api')).length).toBe(all.length);
      expectProblem(await server.request({ method: 'GET', url: '/v1/reports?made=someone' }), {
        status: 400,
        code: 'validation_failed',
        path: '/querystring/made',
      });
    });

    it('stores one report for a request sent twice with the same Idempotency-Key', async () => {
      const send = () =>
        server.request({
          method: 'POST',
          url: '/v1/reports/usage-revenue',
          body: march,
          headers: { 'idempotency-key': 'quarterly-march' },
        });
      const first = expectStatus<StoredReport>(await send(), 201);
      const before = await listAll();
      expect(expectStatus<StoredReport>(await send(), 201)).toEqual(first);
      expect(await listAll()).toEqual(before);
    });

    it('answers 404 for a report that does not exist', async () => {
      expectProblem(await server.request({ method: 'GET', url: '/v1/reports/rpt_nope' }), {
        status: 404,
        code: 'not_found',
      });
    });

    it.each([
      ['a range that ends before it starts', { from: march.to, to: march.from }, '/to'],
      ['a range longer than 400 days', { from: '2025-01-01T00:00:00Z', to: march.to }, '/to'],
      ['an unknown plan', { ...march, plan: 'nope' }, '/plan'],
      ['an unknown flag', { ...march, flag: 'nope' }, '/flag'],
      ['a time that is not one', { from: march.from, to: 'soon' }, '/to'],
      ['no start', { to: march.to }, '/from'],
      ['an unknown field', { ...march, customer: 'paying' }, '/customer'],
    ])('refuses %s with 400 naming the field, storing nothing', async (_name, body, path) => {
      const before = await listAll();
      expectProblem(await server.request({ method: 'POST', url: '/v1/reports/usage-revenue', body }), {
        status: 400,
        code: 'validation_failed',
        path,
      });
      expect(await listAll()).toEqual(before);
    });
  });

  describe('from the command line', () => {
    const range = ['--from', march.from, '--to', march.to];
    const keymaster = (args: string[]) => runKeymaster(server.target, args);

    it('stores a report with --save, lists it and shows it as JSON, CSV or a table', async () => {
      const saved = await keymaster(['report', 'usage-revenue', ...range, '--save']);
      expect(saved.code, saved.stderr).toBe(0);
      const id = saved.stdout.trim();
      expect(id).toMatch(/^rpt_[0-9a-z]+$/);
      const stored = documentOf(await fetchStored(`/v1/reports/${id}`, 'gzip'));
      expect(stored).toEqual({ id, ...(await onDemand()) });
      const [latest] = expectStatus<Page<StoredReport>>(
        await server.request({ method: 'GET', url: '/v1/reports?limit=1' }),
        200,
      ).data;
      expect(latest).toMatchObject({ id, made: 'cli', customers: 3 });

      const listed = await keymaster(['report', 'list', '--made', 'cli']);
      expect(listed.stdout.split('\n')[0]!.split(/\s{2,}/)).toEqual([
        'id',
        'kind',
        'from',
        'to',
        'filters',
        'made',
        'created',
        'customers',
        'size',
      ]);
      expect(listed.stdout.split('\n')[1]).toMatch(new RegExp(`^${id}\\s+usage-revenue\\s+${march.from}\\s+`));
      const json = JSON.parse((await keymaster(['report', 'list', '--json', '--limit', '1'])).stdout) as unknown[];
      expect(json).toEqual([latest]);

      const shown = await keymaster(['report', 'show', id]);
      expect(JSON.parse(shown.stdout)).toEqual(stored);
      for (const format of ['csv', 'table']) {
        const fromStore = await keymaster(['report', 'show', id, '--format', format]);
        const onDemandCli = await keymaster(['report', 'usage-revenue', ...range, '--format', format]);
        expect(fromStore.code, fromStore.stderr).toBe(0);
        expect(fromStore.stdout).toBe(onDemandCli.stdout);
      }
      expect((await keymaster(['report', 'show', id, '--format', 'csv'])).stdout.split('\n')[0]).toBe(
        'customer,plan,revenue,currency,features (usage/limit),flags',
      );
    }, 120_000);

    it('refuses what the API refuses and an unknown id', async () => {
      const backwards = await keymaster(['report', 'usage-revenue', '--from', march.to, '--to', march.from, '--save']);
      expect(backwards.code).toBe(1);
      expect(backwards.stderr).toContain('must be after from');
      const unknown = await keymaster(['report', 'show', 'rpt_nope']);
      expect(unknown).toMatchObject({ code: 1, stdout: '', stderr: 'keymaster: Report "rpt_nope" does not exist.\n' });
    }, 60_000);
  });

  // Last: it erases a customer the other tests report on.
  describe('erasure', () => {
    it('makes an erased customer’s rows anonymous in every stored report, their figures kept', async () => {
      const reports = [await store(), await store({ ...march, plan: 'pro' }), await store({ ...march, plan: 'free' })];
      const before = await Promise.all(reports.map(async (r) => documentOf(await fetchStored(r.url, 'gzip'))));
      expect((await server.request({ method: 'DELETE', url: '/v1/customers/trial' })).statusCode).toBe(204);

      const listed = new Map((await listAll()).map((r) => [r.id, r]));
      for (const [i, report] of reports.entries()) {
        const gzipped = await fetchStored(report.url, 'gzip');
        const after = documentOf(gzipped);
        const text = JSON.stringify(after);
        expect(text).not.toContain('"trial"');
        expect(text).not.toContain(subscriptions.trial);
        // The sizes listed are the rewritten document's.
        expect(gzipped.rawPayload.length).toBe(listed.get(report.id)!.compressed_size);
        expect((await fetchStored(report.url)).rawPayload.length).toBe(listed.get(report.id)!.size);
        const was = before[i]!;
        expect(after.totals).toEqual(was.totals);
        expect(after.plans).toEqual(was.plans);
        expect(after.data.map((row) => row.customer)).toEqual(
          was.data.map((row) => (row.customer === 'trial' ? 'erased customer' : row.customer)),
        );
        for (const [j, row] of after.data.entries()) {
          const old = was.data[j]!;
          if (old.customer !== 'trial') {
            expect(row).toEqual(old);
            continue;
          }
          expect(row.revenue).toEqual(old.revenue);
          expect(row.flags).toEqual(old.flags);
          expect(row.evidence.subscriptions).toEqual([]);
          expect(row.evidence.grants).toEqual([]);
          expect(row.evidence.revenue.map((line) => line.subscription)).toEqual(
            old.evidence.revenue.map(() => 'erased subscription'),
          );
          expect(row.features.map((f) => [f.feature, f.usage, f.limit, f.subscription, f.grants])).toEqual(
            old.features.map((f) => [f.feature, f.usage, f.limit, null, []]),
          );
        }
      }
      // The free plan's report never had them: it is as it was.
      expect(before[2]!.data.map((row) => row.customer)).toEqual(['comped']);
    });
  });
});
