import type { Decision, Subscription } from '@keymaster/contract';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, monthly, publishCatalog, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

/**
 * The subscription state machine played through the API with simulated time, against a reference
 * model that knows only the statuses, which action each allows, and the four instants time acts
 * on (trial end, cancellation, grace end, resume). fast-check makes sequences of actions and
 * clock moves; after each, the subscription, and whether it grants access, must be the model's.
 * KEYMASTER_MODEL_RUNS sets the sequences a dialect (default 100).
 */
const runs = Number(process.env.KEYMASTER_MODEL_RUNS ?? 100);
const day = 86_400_000;
const graceDays = 3;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

type Status = Subscription['status'];
const live: readonly Status[] = ['trialing', 'active', 'past_due'];

interface Model {
  status: Status;
  /** The instants time acts on, while the status makes them count. */
  trialEnd: number | null;
  cancelAt: number | null;
  graceEndsAt: number | null;
  resumesAt: number | null;
  /** The current period's end as the server last said (its calendar is not under test here). */
  periodEnd: number;
}

interface Real {
  server: TestServer;
  customer: string;
  id: string;
}

/**
 * Runs what time has made due by `now`, earliest first (at one instant: trial end, then
 * cancellation, then grace end, then resume), as the model understands it.
 */
function catchUp(model: Model, now: number): void {
  for (;;) {
    const due: { at: number | null; apply: () => void }[] = [
      {
        at: model.status === 'trialing' ? model.trialEnd : null,
        // No payment by the end of the trial (on_trial_end "cancel"): it expires.
        apply: () => Object.assign(model, { status: 'expired' }),
      },
      {
        at: live.includes(model.status) ? model.cancelAt : null,
        apply: () => Object.assign(model, { status: 'canceled', cancelAt: null }),
      },
      {
        at: model.status === 'past_due' ? model.graceEndsAt : null,
        apply: () => Object.assign(model, { status: 'paused', graceEndsAt: null, resumesAt: null }),
      },
      {
        at: model.status === 'paused' ? model.resumesAt : null,
        apply: () => Object.assign(model, { status: 'active', resumesAt: null, graceEndsAt: null }),
      },
    ];
    let next: (typeof due)[number] | undefined;
    for (const step of due) {
      if (step.at !== null && step.at <= now && (next === undefined || step.at < next.at!)) next = step;
    }
    if (next === undefined) return;
    next.apply();
  }
}

/** The subscription as the server has it, held against the model (only what the model knows). */
async function compare(model: Model, real: Real): Promise<void> {
  const { server } = real;
  const subscription = expectStatus<Subscription>(
    await server.request({ method: 'GET', url: `/v1/subscriptions/${real.id}` }),
    200,
  );
  const seen: Record<string, unknown> = { status: subscription.status };
  const expected: Record<string, unknown> = { status: model.status };
  if (live.includes(model.status)) {
    seen.cancel_at = subscription.cancel_at;
    expected.cancel_at = iso(model.cancelAt);
  }
  if (model.status === 'past_due') {
    seen.grace_ends_at = subscription.grace_ends_at;
    expected.grace_ends_at = iso(model.graceEndsAt);
  }
  if (model.status === 'paused') {
    seen.resumes_at = subscription.resumes_at;
    expected.resumes_at = iso(model.resumesAt);
  }
  expect(seen, JSON.stringify(subscription)).toEqual(expected);
  model.periodEnd = Date.parse(subscription.current_period_end);
  const decision = expectStatus<Decision>(
    await server.request({ method: 'POST', url: '/v1/check', body: { customer: real.customer, feature: 'model_sso' } }),
    200,
  );
  expect(decision.allowed, JSON.stringify(decision)).toBe(live.includes(model.status));
}

type ActionName = 'activate' | 'past-due' | 'pause' | 'resume' | 'cancel' | 'undo-cancel';

/** An action through the API: allowed (200, and the model moves) or refused (409, and nothing moves). */
class Act implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly action: ActionName,
    readonly body: { when?: 'now' | 'period_end'; resumes_in_days?: number } = {},
  ) {}
  check = () => true;
  /** The model's answer: what the action does, or null when the state machine refuses it. */
  private effect(model: Model, now: number): Partial<Model> | null {
    const from = (...statuses: Status[]) => statuses.includes(model.status);
    switch (this.action) {
      case 'activate':
        return from('trialing', 'past_due') ? { status: 'active', graceEndsAt: null } : null;
      case 'past-due':
        return from('active') ? { status: 'past_due', graceEndsAt: now + graceDays * day } : null;
      case 'pause': {
        const resumesAt = this.body.resumes_in_days === undefined ? null : now + this.body.resumes_in_days * day;
        return from('active', 'past_due') ? { status: 'paused', resumesAt, graceEndsAt: null } : null;
      }
      case 'resume':
        return from('paused') ? { status: 'active', resumesAt: null, graceEndsAt: null } : null;
      case 'cancel':
        if (this.body.when === 'period_end') return from(...live) ? { cancelAt: model.periodEnd } : null;
        return from(...live, 'paused') ? { status: 'canceled', cancelAt: null } : null;
      case 'undo-cancel':
        return from(...live) && model.cancelAt !== null ? { cancelAt: null } : null;
    }
  }
  async run(model: Model, real: Real) {
    const { server } = real;
    const now = server.clock.now();
    const body: Record<string, unknown> = {};
    if (this.body.when !== undefined) body.when = this.body.when;
    if (this.body.resumes_in_days !== undefined) body.resumes_at = iso(now + this.body.resumes_in_days * day);
    const response = await server.request({ method: 'POST', url: `/v1/subscriptions/${real.id}/${this.action}`, body });
    const effect = this.effect(model, now);
    expect(response.statusCode, response.body).toBe(effect === null ? 409 : 200);
    if (effect !== null) Object.assign(model, effect);
    catchUp(model, now);
    await compare(model, real);
  }
  toString = () => `${this.action}(${JSON.stringify(this.body)})`;
}

/** Moves the clock; whatever fell due on the way has happened when it answers. */
class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(model: Model, real: Real) {
    const to = real.server.clock.now() + this.ms;
    expectStatus(
      await real.server.request({ method: 'POST', url: '/v1/test-clock/advance', body: { to: iso(to) } }),
      200,
    );
    catchUp(model, to);
    await compare(model, real);
  }
  toString = () => `advance(${this.ms / day} days)`;
}

const commands = [
  fc.constantFrom<ActionName>('activate', 'past-due', 'resume', 'undo-cancel').map((action) => new Act(action)),
  fc
    .option(fc.integer({ min: 1, max: 20 }), { nil: undefined })
    .map((days) => new Act('pause', { resumes_in_days: days })),
  fc.constantFrom('now' as const, 'period_end' as const).map((when) => new Act('cancel', { when })),
  // Mostly short moves (around grace periods and resumes), sometimes past a period or a trial.
  fc.oneof(fc.integer({ min: 1, max: 4 * day }), fc.integer({ min: day, max: 40 * day })).map((ms) => new Advance(ms)),
];

describeEachDialect('the subscription lifecycle, against a reference model', (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      start: '2026-01-31T09:00:00.000Z',
      env: { KEYMASTER_TEST_CLOCK: 'true', KEYMASTER_PAST_DUE_GRACE_DAYS: String(graceDays) },
    });
    const entitlements = [{ feature: 'model_sso' }];
    await publishCatalog(server, {
      features: [{ key: 'model_sso', name: 'SSO', type: 'boolean' }],
      plans: [
        { key: 'model_paid', name: 'Paid', price: monthly(1000), entitlements },
        { key: 'model_trial', name: 'Trial', price: monthly(1000), trial_days: 14, entitlements },
      ],
    });
  });
  afterAll(() => server.close());

  it('moves every subscription as the model does, through actions and time', async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.commands(commands, { maxCommands: 20 }), async (trial, sequence) => {
        const { id: customer, subscription } = await seedCustomer(server, {
          id: uniqueKey('cus_lifecycle'),
          plan: trial ? 'model_trial' : 'model_paid',
        });
        const model: Model = {
          status: trial ? 'trialing' : 'active',
          trialEnd: trial ? server.clock.now() + 14 * day : null,
          cancelAt: null,
          graceEndsAt: null,
          resumesAt: null,
          periodEnd: Date.parse(subscription!.current_period_end),
        };
        expect(subscription).toMatchObject({ status: model.status, trial_end: iso(model.trialEnd) });
        await fc.asyncModelRun(() => ({ model, real: { server, customer, id: subscription!.id } }), sequence);
      }),
      { numRuns: runs },
    );
  }, 120_000);
});
