import type { Decision } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, publishCatalog, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

describeEachDialect('POST /v1/consume', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: '2026-06-15T12:00:00.000Z' });
    await publishCatalog(server, {
      features: [
        { key: 'calls', name: 'Calls', type: 'metered' },
        { key: 'soft_calls', name: 'Soft calls', type: 'metered' },
        { key: 'free_calls', name: 'Unlimited calls', type: 'metered' },
        { key: 'burst', name: 'Burst', type: 'metered' },
        { key: 'exports', name: 'Exports', type: 'metered' },
        { key: 'sso', name: 'SSO', type: 'boolean' },
      ],
      plans: [
        {
          key: 'team',
          name: 'Team',
          entitlements: [
            { feature: 'calls', limit: 30, reset: 'month' },
            { feature: 'soft_calls', limit: 2, reset: 'month', overage: 'allow' },
            { feature: 'free_calls', limit: null, reset: 'month' },
            { feature: 'burst', limit: 3, window: '1h' },
            { feature: 'sso' },
          ],
        },
      ],
    });
  });
  afterAll(() => server.close());

  const consume = (body: Record<string, unknown>) => server.request({ method: 'POST', url: '/v1/consume', body });
  const ok = async (body: Record<string, unknown>) => expectStatus<Decision>(await consume(body), 200);
  const check = async (customer: string, feature: string) =>
    expectStatus<Decision>(
      await server.request({ method: 'POST', url: '/v1/check', body: { customer, feature, quantity: 0 } }),
      200,
    );
  const customer = async () => (await seedCustomer(server, { plan: 'team' })).id;

  it('records units when allowed, with usage including them, and refuses past the limit recording nothing', async () => {
    const id = await customer();
    expect(await ok({ customer: id, feature: 'calls', quantity: 25 })).toMatchObject({
      allowed: true,
      reason: 'entitled',
      usage: 25,
      balance: 5,
      limit: 30,
    });
    expect(await ok({ customer: id, feature: 'calls', quantity: 6 })).toMatchObject({
      allowed: false,
      reason: 'limit_reached',
      usage: 25,
    });
    expect(await ok({ customer: id, feature: 'calls', quantity: 5 })).toMatchObject({
      allowed: true,
      usage: 30,
      balance: 0,
    });
    expect(await check(id, 'calls')).toMatchObject({ usage: 30 });
  });

  it('never over-grants under many concurrent callers, and records every granted unit', async () => {
    const id = await customer();
    const answers = await Promise.all(Array.from({ length: 100 }, () => ok({ customer: id, feature: 'calls' })));
    expect(answers.filter((a) => a.allowed)).toHaveLength(30);
    expect(await check(id, 'calls')).toMatchObject({ usage: 30 });
  });

  it('decides concurrent consumes of one counter as if one by one, when only some fit', async () => {
    const id = await customer();
    const quantities = [10, 15, 10, 3, 5, 1, 7, 2];
    const answers = await Promise.all(quantities.map((quantity) => ok({ customer: id, feature: 'calls', quantity })));
    // The granted ones chain: each one's usage is the one before it plus its own units.
    const granted = answers
      .map((answer, i) => ({ answer, quantity: quantities[i]! }))
      .filter(({ answer }) => answer.allowed)
      .sort((a, b) => a.answer.usage! - b.answer.usage!);
    let usage = 0;
    for (const { answer, quantity } of granted) {
      expect(answer.usage).toBe(usage + quantity);
      usage = answer.usage!;
    }
    expect(usage).toBeLessThanOrEqual(30);
    // Each refused one did not fit on the usage it reports, which is a usage the counter had.
    for (const [i, answer] of answers.entries()) {
      if (answer.allowed) continue;
      expect(answer).toMatchObject({ reason: 'limit_reached' });
      expect(answer.usage! + quantities[i]!).toBeGreaterThan(30);
      expect([0, ...granted.map((g) => g.answer.usage)]).toContain(answer.usage);
    }
    expect(await check(id, 'calls')).toMatchObject({ usage });
  });

  it("decides many customers' concurrent consumes together, each counter as if one by one, with its history", async () => {
    const ids = await Promise.all(Array.from({ length: 12 }, () => customer()));
    // 20 of 30 first, then more than the 10 left, in consumes that each fit on their own.
    await Promise.all(ids.map((id) => ok({ customer: id, feature: 'calls', quantity: 20 })));
    const quantities = [4, 3, 2, 5, 1, 2];
    const sent = ids.flatMap((id) => [
      ...quantities.map((quantity) => ({ customer: id, feature: 'calls', quantity })),
      { customer: id, feature: 'soft_calls', quantity: 2 },
      { customer: id, feature: 'soft_calls', quantity: 3 },
      { customer: id, feature: 'free_calls', quantity: 4 },
    ]);
    const answers = await Promise.all(sent.map((body) => ok(body)));
    for (const id of ids) {
      const calls = answers.filter((_, i) => sent[i]!.customer === id && sent[i]!.feature === 'calls');
      const granted = calls.filter((answer) => answer.allowed).map((answer) => answer.usage!);
      const usage = Math.max(20, ...granted);
      expect(usage).toBeLessThanOrEqual(30);
      // Each granted one's usage distinct (no two were decided on the same value); each refused one
      // did not fit on the usage it reports.
      expect(new Set(granted).size).toBe(granted.length);
      for (const [i, answer] of calls.entries()) {
        if (!answer.allowed) expect(answer.usage! + quantities[i]!).toBeGreaterThan(30);
      }
      expect(await check(id, 'calls')).toMatchObject({ usage });
      // Overage allowed: both recorded; unlimited: recorded.
      expect(await check(id, 'soft_calls')).toMatchObject({ usage: 5 });
      expect(await check(id, 'free_calls')).toMatchObject({ usage: 4 });
      for (const [feature, total] of [
        ['calls', usage],
        ['soft_calls', 5],
        ['free_calls', 4],
      ] as const) {
        const history = await server.request({ method: 'GET', url: `/v1/customers/${id}/usage?feature=${feature}` });
        expect(expectStatus<{ total: number }>(history, 200).total).toBe(total);
      }
    }
  });

  it('answers concurrent consumes alone: a conflicting one fails without failing the others', async () => {
    const id = await customer();
    const key = uniqueKey('consume');
    await ok({ customer: id, feature: 'calls', quantity: 2, idempotency_key: key });
    // Sent together, these share a transaction on SQLite (group commit), each in its own savepoint.
    const answers = await Promise.all([
      consume({ customer: id, feature: 'calls' }),
      consume({ customer: id, feature: 'calls', quantity: 3, idempotency_key: key }),
      consume({ customer: id, feature: 'calls', quantity: 5 }),
      consume({ customer: id, feature: 'calls', quantity: 2, idempotency_key: key }),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([200, 409, 200, 200]);
    expect(await check(id, 'calls')).toMatchObject({ usage: 8 });
  });

  it('counts a retried consume once, answering the same', async () => {
    const id = await customer();
    const key = uniqueKey('consume');
    const first = await ok({ customer: id, feature: 'calls', quantity: 4, idempotency_key: key });
    const again = await ok({ customer: id, feature: 'calls', quantity: 4, idempotency_key: key });
    expect(again).toEqual(first);
    expect(await check(id, 'calls')).toMatchObject({ usage: 4 });
    expectProblem(await consume({ customer: id, feature: 'calls', quantity: 5, idempotency_key: key }), {
      status: 409,
      code: 'idempotency_conflict',
      path: '/idempotency_key',
    });
  });

  it('records past the limit when overage is allowed, and always when unlimited', async () => {
    const id = await customer();
    expect(await ok({ customer: id, feature: 'soft_calls', quantity: 3 })).toMatchObject({
      allowed: true,
      usage: 3,
      limit: 2,
    });
    expect(await ok({ customer: id, feature: 'free_calls', quantity: 1_000_000 })).toMatchObject({
      allowed: true,
      unlimited: true,
      usage: 1_000_000,
    });
  });

  it('enforces a rolling window and frees it as time passes', async () => {
    const id = await customer();
    expect(await ok({ customer: id, feature: 'burst', quantity: 3 })).toMatchObject({ allowed: true, usage: 3 });
    expect(await ok({ customer: id, feature: 'burst' })).toMatchObject({
      allowed: false,
      reason: 'limit_reached',
      usage: 3,
    });
    server.clock.advance(61 * 60_000);
    try {
      expect(await ok({ customer: id, feature: 'burst' })).toMatchObject({ allowed: true, usage: 1 });
    } finally {
      server.clock.set(Date.parse('2026-06-15T12:00:00.000Z'));
    }
  });

  it('answers without recording for a feature the customer is not entitled to, or an unknown one', async () => {
    const id = await customer();
    expect(await ok({ customer: id, feature: 'exports' })).toMatchObject({ allowed: false, reason: 'no_entitlement' });
    expect(await check(id, 'exports')).toMatchObject({ usage: 0, allowed: false });
    expect(await ok({ customer: 'nobody', feature: 'calls' })).toMatchObject({
      allowed: false,
      reason: 'unknown_customer',
    });
    expect(await ok({ customer: id, feature: 'nothing' })).toMatchObject({ allowed: false, reason: 'unknown_feature' });
  });

  it.each([
    ['a negative quantity', { quantity: -1 }, '/quantity'],
    ['a zero quantity', { quantity: 0 }, '/quantity'],
    ['a fractional quantity', { quantity: 1.5 }, '/quantity'],
    ['a quantity past 2^53 - 1 (it would overflow the counter)', { quantity: 1e308 }, '/quantity'],
    ['a boolean feature', { feature: 'sso' }, '/feature'],
  ])('refuses %s with 400 naming the field', async (_name, change, path) => {
    const id = await customer();
    expectProblem(await consume({ customer: id, feature: 'calls', ...change }), {
      status: 400,
      code: 'validation_failed',
      path,
    });
  });
});
