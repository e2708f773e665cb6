import { gunzipSync } from 'node:zlib';
import type { StoredReport, UsageRevenueReport, WebhookEndpointWithSecret } from '@keymaster/contract';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { loadConfig } from '../../config.js';
import { expectStatus, seedCatalog, seedCustomer } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { createTestDatabase, describeEachDialect, type TestDatabase } from '../../test-support/databases.js';
import { startTestServerOn, type TestServer } from '../../test-support/server.js';
import { type ReceivedWebhook, startReceiver } from '../../test-support/webhook-receiver.js';
import { claimLeaseMs } from './service.js';

/** 06:00 UTC on the first day of each quarter. */
const quarterly = '0 6 1 1,4,7,10 *';
type Page<T> = { data: T[]; has_more: boolean; next_cursor: string | null };
type Delivery = { id: string; type: string; timestamp: string; data: StoredReport & { version: number } };

/**
 * KEYMASTER_REVENUE_REPORT_CRON, through the API on simulated time: the report of the last full
 * quarter made once when the expression fires, `report.ready` delivered to a webhook endpoint,
 * one catch-up after downtime, and a claim whose node died taken over.
 */
describeEachDialect('the quarterly report schedule', (dialect) => {
  let database: TestDatabase;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const nodes: TestServer[] = [];
  beforeEach(async () => {
    database = await createTestDatabase(dialect);
    receiver = await startReceiver();
  });
  afterEach(async () => {
    for (const node of nodes.splice(0)) await node.close();
    await receiver.close();
    await database.drop();
  });

  /** A node on the suite's database whose clock starts at `start`; the scheduler polls every `pollMs`. */
  async function startNode(start: string, pollMs = 1000): Promise<TestServer> {
    const node = await startTestServerOn({
      target: database.target,
      start,
      env: {
        KEYMASTER_TEST_CLOCK: 'true',
        KEYMASTER_REVENUE_REPORT_CRON: quarterly,
        KEYMASTER_SCHEDULER_POLL_MS: String(pollMs),
        KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true',
        KEYMASTER_WEBHOOK_POLL_MS: '60000',
      },
    });
    nodes.push(node);
    return node;
  }
  const stop = async (node: TestServer) => {
    await node.close();
    nodes.splice(nodes.indexOf(node), 1);
  };
  const advance = async (node: TestServer, to: string) =>
    expectStatus(await node.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to } }), 200);
  const stored = async (node: TestServer) =>
    expectStatus<Page<StoredReport>>(await node.request({ method: 'GET', url: '/v1/reports?limit=100' }), 200).data;
  const delivered = () =>
    receiver.received
      .map((r: ReceivedWebhook) => JSON.parse(r.body) as Delivery)
      .filter((d) => d.type === 'report.ready');
  const listen = async (node: TestServer) =>
    expectStatus<WebhookEndpointWithSecret>(
      await node.request({
        method: 'POST',
        url: '/v1/webhook-endpoints',
        body: { url: `${receiver.url}/reports`, events: ['report.ready'] },
      }),
      201,
    );
  const seed = async (node: TestServer) => {
    await seedCatalog(node);
    await seedCustomer(node, { id: 'acme', plan: 'pro' });
    await seedCustomer(node, { id: 'globex', plan: 'free' });
  };

  it('makes the last quarter’s report once when the schedule fires, and tells the webhooks where it is', async () => {
    const node = await startNode('2026-02-10T00:00:00.000Z');
    await listen(node);
    await seed(node);
    await advance(node, '2026-04-01T05:59:59.999Z');
    expect(await stored(node)).toEqual([]);

    await advance(node, '2026-04-01T06:00:00.000Z');
    const [report, ...others] = await stored(node);
    expect(others).toEqual([]);
    expect(report).toEqual({
      id: expect.stringMatching(/^rpt_/),
      kind: 'usage-revenue',
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-04-01T00:00:00.000Z',
      filters: { plan: null, flag: null },
      made: 'schedule',
      scheduled_for: '2026-04-01T06:00:00.000Z',
      created_at: '2026-04-01T06:00:00.000Z',
      url: `/v1/reports/${report!.id}`,
      customers: 2,
      size: expect.any(Number),
      compressed_size: expect.any(Number),
    });
    // Delivered in the same move of the clock, with the link.
    expect(delivered()).toEqual([
      {
        id: expect.stringMatching(/^dev_/),
        type: 'report.ready',
        timestamp: report!.created_at,
        data: { ...report, version: expect.any(Number) },
      },
    ]);
    const document = JSON.parse(
      gunzipSync(
        (await node.request({ method: 'GET', url: report!.url, headers: { 'accept-encoding': 'gzip' } })).rawPayload,
      ).toString('utf8'),
    ) as unknown;
    const onDemand = expectStatus<UsageRevenueReport>(
      await node.request({ method: 'GET', url: `/v1/reports/usage-revenue?from=${report!.from}&to=${report!.to}` }),
      200,
    );
    expect(document).toEqual({ id: report!.id, ...onDemand });

    // Later ticks in the same quarter make nothing more.
    await advance(node, '2026-04-01T06:00:00.000Z');
    await advance(node, '2026-06-30T23:00:00.000Z');
    expect(await stored(node)).toHaveLength(1);
    await node.keymaster.webhooks.runDue();
    expect(delivered()).toHaveLength(1);

    // Past two fire times in one move: the report of the latest only (the earlier one's is superseded).
    await advance(node, '2026-11-15T00:00:00.000Z');
    const reports = await stored(node);
    expect(reports.map((r) => [r.scheduled_for, r.from, r.to])).toEqual([
      ['2026-10-01T06:00:00.000Z', '2026-07-01T00:00:00.000Z', '2026-10-01T00:00:00.000Z'],
      ['2026-04-01T06:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-04-01T00:00:00.000Z'],
    ]);
    expect(delivered().map((d) => d.data.url)).toEqual(reports.map((r) => r.url).reverse());
  }, 60_000);

  it('catches up once at the first tick of a node started after fire times nobody was up for', async () => {
    const first = await startNode('2026-02-10T00:00:00.000Z');
    await seed(first);
    await advance(first, '2026-04-02T00:00:00.000Z');
    expect(await stored(first)).toHaveLength(1);
    await listen(first);
    await stop(first);

    // Down for July 1, October 1 and January 1; the next node's scheduler polls every 50 ms.
    const next = await startNode('2027-02-01T00:00:00.000Z', 50);
    const deadline = Date.now() + 10_000;
    while ((await stored(next)).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const reports = await stored(next);
    expect(reports.map((r) => [r.scheduled_for, r.from, r.to])).toEqual([
      ['2027-01-01T06:00:00.000Z', '2026-10-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z'],
      ['2026-04-01T06:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-04-01T00:00:00.000Z'],
    ]);
    // Made by the poll, not the move: further ticks and moves add nothing.
    await new Promise((r) => setTimeout(r, 200));
    await advance(next, '2027-03-31T00:00:00.000Z');
    expect(await stored(next)).toHaveLength(2);
    expect(delivered().map((d) => d.data.id)).toEqual([reports[0]!.id]);
  }, 60_000);

  it('takes over the claim of a node that died making a report, once its lease has run out', async () => {
    const first = await startNode('2026-02-10T00:00:00.000Z');
    await seed(first);
    await listen(first);
    // What a node that claimed the April 1 report and died left: a pending row with its lease.
    const claimedAt = Date.parse('2026-04-01T06:00:00.000Z');
    await first.keymaster.database.db
      .insertInto('reports')
      .values({
        id: 'rpt_left_behind',
        kind: 'usage-revenue',
        made: 'schedule',
        range_from: Date.parse('2026-01-01T00:00:00.000Z'),
        range_to: Date.parse('2026-04-01T00:00:00.000Z'),
        filters: JSON.stringify({ plan: null, flag: null }),
        scheduled_for: claimedAt,
        status: 'pending',
        claimed_until: claimedAt + claimLeaseMs,
        created_at: claimedAt,
        customers: null,
        size: null,
        compressed_size: null,
        body: null,
      })
      .execute();
    await stop(first);

    const node = await startNode('2026-04-01T06:05:00.000Z');
    await advance(node, new Date(claimedAt + claimLeaseMs - 1).toISOString());
    expect(await stored(node)).toEqual([]);
    expectStatus(await node.request({ method: 'GET', url: '/v1/reports/rpt_left_behind' }), 404);

    await advance(node, new Date(claimedAt + claimLeaseMs).toISOString());
    expect(await stored(node)).toEqual([
      expect.objectContaining({ id: 'rpt_left_behind', scheduled_for: '2026-04-01T06:00:00.000Z', customers: 2 }),
    ]);
    expect(delivered().map((d) => d.data.id)).toEqual(['rpt_left_behind']);
  }, 60_000);
});

it('refuses to start with a cron expression that is not one, naming the variable', async () => {
  expect(() => loadConfig({ KEYMASTER_REVENUE_REPORT_CRON: '0 6 1 1,4,7,10' })).toThrow(
    /KEYMASTER_REVENUE_REPORT_CRON must be a cron expression/,
  );
  expect(() => loadConfig({ KEYMASTER_REVENUE_REPORT_CRON: '0 0 30 2 *' })).toThrow(
    /KEYMASTER_REVENUE_REPORT_CRON "0 0 30 2 \*" never fires/,
  );
  expect(loadConfig({ KEYMASTER_REVENUE_REPORT_CRON: quarterly }).revenueReportCron).toBe(quarterly);
  expect(loadConfig({}).revenueReportCron).toBeUndefined();
  const database = await createTestDatabase('sqlite');
  try {
    const started = await runKeymaster(database.target, ['serve'], {
      env: { KEYMASTER_REVENUE_REPORT_CRON: '61 * * * *', PORT: '0' },
    });
    expect(started.code).toBe(1);
    expect(started.stderr).toContain('KEYMASTER_REVENUE_REPORT_CRON must be a cron expression');
    expect(started.stderr).toContain('Invalid value for minute: 61');
  } finally {
    await database.drop();
  }
}, 30_000);
