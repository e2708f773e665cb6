import { gunzipSync } from 'node:zlib';
import type { StoredUsageRevenueReport } from '@keymaster/contract';
import { describe, expect, it } from 'vitest';
import { compressReport, eraseCustomersFromBody, readStoredReport } from './report-body.js';

type Row = StoredUsageRevenueReport['data'][number];

/** A report row of the API's form for `customer`, with a subscription and a grant behind it. */
function row(customer: string): Row {
  return {
    customer,
    plan: 'pro',
    revenue: { amount: 4900, currency: 'usd', by_currency: { usd: 4900 } },
    features: [
      {
        feature: 'api_calls',
        limit: 1500,
        usage: 1200,
        used_in_range: 3000,
        utilization: 0.8,
        paid: true,
        period: { start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z' },
        source: 'plan',
        subscription: `sub_${customer}`,
        grants: [`grt_${customer}`],
      },
    ],
    flags: ['upsell'],
    evidence: {
      subscriptions: [`sub_${customer}`],
      revenue: [
        {
          subscription: `sub_${customer}`,
          plan: 'pro',
          from: '2026-03-01T00:00:00.000Z',
          to: '2026-04-01T00:00:00.000Z',
          period: { start: '2026-03-01T00:00:00.000Z', end: '2026-04-01T00:00:00.000Z' },
          status: 'active',
          share: 1,
          amounts: { usd: 4900 },
        },
      ],
      granted_only: [],
      grants: [{ grant: `grt_${customer}`, feature: 'api_calls' }],
      unpaid_access_seconds: 0,
    },
  };
}

const summary = {
  plans: { pro: { customers: 3, revenue: { usd: 14700 }, flags: { upsell: 3 }, utilization: { api_calls: 0.8 } } },
  totals: { customers: 3, revenue: { usd: 14700 }, flags: { upsell: 3 } },
};

async function* pagesOf(pages: Row[][]) {
  yield* pages;
}

async function stored(pages: Row[][]) {
  return compressReport({
    id: 'rpt_1',
    from: '2026-03-01T00:00:00.000Z',
    to: '2026-04-01T00:00:00.000Z',
    pages: pagesOf(pages),
    summary: () => summary,
  });
}

const documentOf = (body: Buffer) => JSON.parse(gunzipSync(body).toString('utf8')) as StoredUsageRevenueReport;

describe('a stored report body', () => {
  // Ids differing only after a prefix, and ids JSON escapes.
  const customers = ['acme', 'acme2', 'a"b', 'zürich\\co'];

  it.each([
    [
      'rows over several pages',
      [[row(customers[0]!), row(customers[1]!)], [], [row(customers[2]!), row(customers[3]!)]],
    ],
    ['one row', [[row('acme')]]],
    ['no rows', []],
  ])('is the document, one row a line, read back as it was written: %s', async (_name, pages) => {
    const rows = pages.flat();
    const { compressed, customerIds } = await stored(pages);
    expect(customerIds).toEqual(rows.map((r) => r.customer));
    expect(compressed.customers).toBe(rows.length);
    const text = gunzipSync(compressed.body).toString('utf8');
    expect(Buffer.byteLength(text)).toBe(compressed.size);
    expect(text.split('\n')).toHaveLength(rows.length + 3);
    expect(documentOf(compressed.body)).toEqual({
      id: 'rpt_1',
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-04-01T00:00:00.000Z',
      data: rows,
      ...summary,
    });
    const read = readStoredReport(compressed.body);
    const back: Row[] = [];
    for await (const page of read.pages()) back.push(...page);
    expect(back).toEqual(rows);
    expect(read.summary()).toEqual(summary);
  });

  it('makes exactly the named customers’ rows anonymous, the rest and the totals as they were', async () => {
    const rows = customers.map(row);
    const { compressed } = await stored([rows]);
    for (const erased of customers) {
      const rewritten = await eraseCustomersFromBody(compressed.body, new Set([erased]));
      expect(rewritten, erased).not.toBeNull();
      expect(rewritten!.customers).toBe(rows.length);
      expect(gunzipSync(rewritten!.body).length).toBe(rewritten!.size);
      const document = documentOf(rewritten!.body);
      expect(document.totals).toEqual(summary.totals);
      expect(document.data).toEqual(
        rows.map((r) =>
          r.customer !== erased
            ? r
            : {
                ...r,
                customer: 'erased customer',
                features: [{ ...r.features[0]!, subscription: null, grants: [] }],
                evidence: {
                  ...r.evidence,
                  subscriptions: [],
                  grants: [],
                  revenue: [{ ...r.evidence.revenue[0]!, subscription: 'erased subscription' }],
                },
              },
        ),
      );
    }
    const both = documentOf((await eraseCustomersFromBody(compressed.body, new Set(['acme', 'a"b'])))!.body);
    expect(both.data.map((r) => r.customer)).toEqual(['erased customer', 'acme2', 'erased customer', 'zürich\\co']);
  });

  it('is left as it is when it has no row of the customer', async () => {
    const { compressed } = await stored([[row('acme2')]]);
    expect(await eraseCustomersFromBody(compressed.body, new Set(['acme']))).toBeNull();
    expect(await eraseCustomersFromBody(compressed.body, new Set(['erased customer']))).toBeNull();
  });
});
