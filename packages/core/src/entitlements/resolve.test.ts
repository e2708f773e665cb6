import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import type { Feature } from '../catalog/feature.js';
import type { PlanEntitlement } from '../catalog/plan.js';
import type { Grant } from '../customers/grant.js';
import type { Subscription } from '../customers/subscription.js';
import type { JsonObject, JsonValue } from '../json.js';
import {
  buildCustomer,
  buildFeature,
  buildGrant,
  buildPlan,
  buildPlanEntitlement,
  buildSubscription,
  testNow,
  utc,
} from '../test-builders.js';
import type { Denial, Entitlement, EntitlementSource } from './entitlement.js';
import { resolve, resolveFeature } from './resolve.js';

const now = testNow;
const term = buildPlanEntitlement;

const features: Feature[] = [
  buildFeature({ key: 'sso' }),
  buildFeature({ key: 'audit_log' }),
  buildFeature({ type: 'metered', key: 'api_calls' }),
  buildFeature({ type: 'metered', key: 'exports' }),
  buildFeature({ type: 'metered', key: 'ai_tokens' }),
  buildFeature({ type: 'gauge', key: 'seats' }),
  buildFeature({ type: 'config', key: 'support_tier', options: ['email', 'chat', 'phone'] }),
];

const planVersions = [
  buildPlan({
    key: 'free',
    name: 'Free',
    price: { amount: 0, currency: 'usd', interval: 'month' },
    entitlements: [term({ feature: 'api_calls', limit: 100, reset: 'month' })],
  }),
  buildPlan({
    key: 'pro',
    name: 'Pro',
    entitlements: [
      term({ feature: 'sso' }),
      term({ feature: 'audit_log', enabled: false }),
      term({ feature: 'api_calls', limit: 1000, reset: 'month', overage: 'allow' }),
      term({ feature: 'exports', limit: 10 }),
      term({ feature: 'ai_tokens', limit: 100, window: '5h' }),
      term({ feature: 'seats', limit: 5 }),
      term({ feature: 'support_tier', value: 'chat' }),
    ],
  }),
  buildPlan({
    key: 'enterprise',
    name: 'Enterprise',
    price: { amount: 120_000, currency: 'usd', interval: 'year' },
    entitlements: [
      term({ feature: 'sso' }),
      term({ feature: 'audit_log' }),
      term({ feature: 'api_calls', limit: null, reset: 'month' }),
      term({ feature: 'seats', limit: null }),
      term({ feature: 'support_tier', value: 'phone' }),
    ],
  }),
  buildPlan({ key: 'extra_seats', kind: 'addon', entitlements: [term({ feature: 'seats', limit: 10 })] }),
  buildPlan({ key: 'audit_addon', kind: 'addon', entitlements: [term({ feature: 'audit_log' })] }),
  buildPlan({
    key: 'priority_support',
    kind: 'addon',
    entitlements: [term({ feature: 'support_tier', value: 'phone' })],
  }),
  buildPlan({
    key: 'extra_calls',
    kind: 'addon',
    entitlements: [term({ feature: 'api_calls', limit: 500, reset: 'day' })],
  }),
];

/** The fields of an entitlement that precedence decides, so each row states all of them. */
type Summary = Pick<
  Entitlement,
  'enabled' | 'denial' | 'limit' | 'unlimited' | 'reset' | 'window' | 'overage' | 'value' | 'source'
>;

function summary(e: Entitlement): Summary {
  const { enabled, denial, limit, unlimited, reset, window, overage, value, source } = e;
  return { enabled, denial, limit, unlimited, reset, window, overage, value, source };
}

const off = (denial: Denial): Summary => ({
  enabled: false,
  denial,
  limit: null,
  unlimited: false,
  reset: null,
  window: null,
  overage: null,
  value: null,
  source: null,
});
const on = (source: EntitlementSource): Summary => ({ ...off('no_entitlement'), enabled: true, denial: null, source });
const counted = (input: {
  limit: number | null;
  source: EntitlementSource;
  reset?: PlanEntitlement['reset'];
  window?: string | null;
  overage?: PlanEntitlement['overage'];
}): Summary => ({
  ...on(input.source),
  limit: input.limit,
  unlimited: input.limit === null,
  reset: input.reset ?? null,
  window: input.window ?? null,
  overage: input.overage ?? 'block',
});
const configured = (value: JsonValue, source: EntitlementSource): Summary => ({ ...on(source), value });

/** A rule answering `variant` for customers in DE or FR and nothing for anyone else. */
const inEurope = (variant: string, otherwise: string | null = null) => ({
  if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, variant, otherwise],
});
const always = (variant: string) => ({ if: [true, variant, null] });

interface Row {
  name: string;
  key: string;
  /** Merged into the catalog's feature of that key. */
  feature?: Partial<Feature>;
  /** Overrides of the default active pro@1 subscription; null for none. */
  subscription?: Partial<Subscription> | null;
  grants?: Partial<Grant>[];
  traits?: JsonObject;
  expected: Summary;
}

function resolveRow(row: Row): Entitlement {
  const catalog = buildCatalog({
    features: features.map((f) => (f.key === row.key ? ({ ...f, ...row.feature } as Feature) : f)),
    planVersions,
  });
  const entitlement = resolve({
    catalog,
    now,
    state: {
      customer: buildCustomer({ traits: row.traits ?? {} }),
      subscription: row.subscription === null ? null : buildSubscription(row.subscription),
      grants: (row.grants ?? []).map((grant, i) => buildGrant({ id: `grt_${i}`, feature: row.key, ...grant })),
    },
  }).entitlements.get(row.key);
  if (!entitlement) throw new Error(`no entitlement for ${row.key}`);
  return entitlement;
}

const check = (rows: Row[]) =>
  it.each(rows)('$name', (row) => {
    expect(summary(resolveRow(row))).toEqual(row.expected);
  });

describe('resolve: the kill switch comes first', () => {
  check([
    {
      name: 'a disabled feature is off despite the plan, an override grant and targeting',
      key: 'sso',
      feature: { status: 'disabled', targeting: always('on') },
      grants: [{ enabled: true }],
      expected: off('feature_disabled'),
    },
    {
      name: 'a disabled feature is off despite an add grant',
      key: 'api_calls',
      feature: { status: 'disabled' },
      grants: [{ mode: 'add', limit: 500 }],
      expected: off('feature_disabled'),
    },
    {
      name: 'the kill switch answers feature_disabled even without a subscription',
      key: 'sso',
      feature: { status: 'disabled' },
      subscription: null,
      expected: off('feature_disabled'),
    },
    {
      name: 'the kill switch wins over an inactive subscription',
      key: 'sso',
      feature: { status: 'disabled' },
      subscription: { status: 'canceled' },
      expected: off('feature_disabled'),
    },
  ]);
});

describe('resolve: grants beat targeting', () => {
  check([
    {
      name: 'an enabling override beats targeting "off"',
      key: 'sso',
      feature: { targeting: always('off') },
      grants: [{ enabled: true }],
      expected: on('grant'),
    },
    {
      name: 'an override re-enabling what targeting switched off keeps the plan terms it does not set',
      key: 'api_calls',
      feature: { targeting: always('off') },
      grants: [{ limit: 50 }],
      expected: counted({ limit: 50, reset: 'month', overage: 'allow', source: 'grant' }),
    },
    {
      name: 'a disabling override beats targeting "on" and the plan',
      key: 'sso',
      feature: { targeting: always('on') },
      grants: [{ enabled: false }],
      expected: off('no_entitlement'),
    },
    {
      name: "an override limit beats targeting's limit",
      key: 'api_calls',
      feature: { variants: { boost: 5000 }, targeting: always('boost') },
      grants: [{ limit: 50 }],
      expected: counted({ limit: 50, reset: 'month', overage: 'allow', source: 'grant' }),
    },
    {
      name: "an override value beats targeting's value",
      key: 'support_tier',
      feature: { targeting: always('email') },
      grants: [{ value: 'phone' }],
      expected: configured('phone', 'grant'),
    },
  ]);
});

describe('resolve: targeting beats the plan', () => {
  const country = { if: [{ in: [{ var: 'country' }, ['DE', 'FR']] }, 'on', 'off'] };
  check([
    {
      name: '"off" switches off a feature of the plan',
      key: 'sso',
      feature: { targeting: country },
      traits: { country: 'US' },
      expected: off('no_entitlement'),
    },
    {
      name: '"on" keeps a boolean of the plan on, now from targeting',
      key: 'sso',
      feature: { targeting: country },
      traits: { country: 'DE' },
      expected: on('targeting'),
    },
    {
      name: '"on" switches on a boolean the plan does not have',
      key: 'audit_log',
      feature: { targeting: inEurope('on') },
      traits: { country: 'FR' },
      expected: on('targeting'),
    },
    {
      name: '"on" switches on a boolean without any subscription',
      key: 'audit_log',
      feature: { targeting: inEurope('on') },
      traits: { country: 'FR' },
      subscription: null,
      expected: on('targeting'),
    },
    {
      name: 'no answer falls through to the plan (on)',
      key: 'sso',
      feature: { targeting: inEurope('off') },
      traits: { country: 'US' },
      expected: on('plan'),
    },
    {
      name: 'no answer falls through to the plan (off)',
      key: 'audit_log',
      feature: { targeting: inEurope('on') },
      traits: { country: 'US' },
      expected: off('no_entitlement'),
    },
    {
      name: 'a number sets a metered limit and keeps the plan reset and overage',
      key: 'api_calls',
      feature: { variants: { boost: 5000 }, targeting: inEurope('boost') },
      traits: { country: 'DE' },
      expected: counted({ limit: 5000, reset: 'month', overage: 'allow', source: 'targeting' }),
    },
    {
      name: 'a number switches on a metered feature outside any plan, with the default reset',
      key: 'api_calls',
      feature: { variants: { trial: 200 }, targeting: always('trial') },
      subscription: null,
      expected: counted({ limit: 200, reset: 'billing_period', source: 'targeting' }),
    },
    {
      name: 'a number sets a gauge limit',
      key: 'seats',
      feature: { variants: { team: 50 }, targeting: always('team') },
      expected: counted({ limit: 50, source: 'targeting' }),
    },
    {
      name: 'zero is a limit, not "off"',
      key: 'seats',
      feature: { variants: { none: 0 }, targeting: always('none') },
      expected: counted({ limit: 0, source: 'targeting' }),
    },
    {
      name: '"on" for a metered feature keeps the plan terms as they are',
      key: 'api_calls',
      feature: { targeting: always('on') },
      expected: counted({ limit: 1000, reset: 'month', overage: 'allow', source: 'plan' }),
    },
    {
      name: '"on" for a gauge the plan lacks gives nothing: it has no limit to grant',
      key: 'seats',
      feature: { targeting: always('on') },
      subscription: { planKey: 'free' },
      expected: off('no_entitlement'),
    },
    {
      name: 'a negative number is ignored',
      key: 'api_calls',
      feature: { variants: { broken: -1 }, targeting: always('broken') },
      expected: counted({ limit: 1000, reset: 'month', overage: 'allow', source: 'plan' }),
    },
    {
      name: 'a fractional number is ignored',
      key: 'seats',
      feature: { variants: { broken: 2.5 }, targeting: always('broken') },
      expected: counted({ limit: 5, source: 'plan' }),
    },
    {
      name: 'a number for a boolean is ignored',
      key: 'sso',
      feature: { variants: { five: 5 }, targeting: always('five') },
      expected: on('plan'),
    },
    {
      name: 'a config value replaces the plan value',
      key: 'support_tier',
      feature: { targeting: inEurope('email') },
      traits: { country: 'DE' },
      expected: configured('email', 'targeting'),
    },
    {
      name: 'a config value switches on a config feature the plan lacks',
      key: 'support_tier',
      feature: { targeting: always('phone') },
      subscription: { planKey: 'free' },
      expected: configured('phone', 'targeting'),
    },
    {
      name: 'a config value outside the options is ignored',
      key: 'support_tier',
      feature: { variants: { vip: 'platinum' }, targeting: always('vip') },
      expected: configured('chat', 'plan'),
    },
    {
      name: '"off" switches a config feature off',
      key: 'support_tier',
      feature: { variants: { off: false }, targeting: always('off') },
      expected: off('no_entitlement'),
    },
  ]);
});

describe('resolve: add grants', () => {
  check([
    {
      name: 'add to the plan limit, and to each other',
      key: 'api_calls',
      grants: [
        { mode: 'add', limit: 500 },
        { mode: 'add', limit: 250 },
      ],
      expected: counted({ limit: 1750, reset: 'month', overage: 'allow', source: 'plan' }),
    },
    {
      name: 'add seats to a gauge',
      key: 'seats',
      grants: [{ mode: 'add', limit: 2 }],
      expected: counted({ limit: 7, source: 'plan' }),
    },
    {
      name: 'leave an unlimited plan unlimited',
      key: 'api_calls',
      subscription: { planKey: 'enterprise' },
      grants: [{ mode: 'add', limit: 500 }],
      expected: counted({ limit: null, reset: 'month', source: 'plan' }),
    },
    {
      name: 'give a standalone allowance that never resets when nothing is below',
      key: 'api_calls',
      subscription: null,
      grants: [{ mode: 'add', limit: 500 }],
      expected: counted({ limit: 500, reset: 'never', source: 'grant' }),
    },
    {
      name: 'give a standalone allowance while the subscription is not live',
      key: 'api_calls',
      subscription: { status: 'canceled' },
      grants: [{ mode: 'add', limit: 500 }],
      expected: counted({ limit: 500, reset: 'never', source: 'grant' }),
    },
    {
      name: 'give a standalone gauge allowance (gauges never reset)',
      key: 'seats',
      subscription: { planKey: 'free' },
      grants: [{ mode: 'add', limit: 3 }],
      expected: counted({ limit: 3, source: 'grant' }),
    },
    {
      name: 'add to an override limit',
      key: 'api_calls',
      grants: [{ limit: 200 }, { mode: 'add', limit: 50 }],
      expected: counted({ limit: 250, reset: 'month', overage: 'allow', source: 'grant' }),
    },
    {
      name: 'add to a targeting limit',
      key: 'api_calls',
      feature: { variants: { boost: 5000 }, targeting: always('boost') },
      grants: [{ mode: 'add', limit: 100 }],
      expected: counted({ limit: 5100, reset: 'month', overage: 'allow', source: 'targeting' }),
    },
    {
      name: 'do not re-enable what targeting switched off',
      key: 'api_calls',
      feature: { targeting: always('off') },
      grants: [{ mode: 'add', limit: 500 }],
      expected: off('no_entitlement'),
    },
    {
      name: 'do not re-enable what an override switched off',
      key: 'api_calls',
      grants: [{ enabled: false }, { mode: 'add', limit: 500 }],
      expected: off('no_entitlement'),
    },
  ]);
});

describe('resolve: override grants', () => {
  const older = utc('2026-05-01T00:00:00Z');
  const newer = utc('2026-06-01T00:00:00Z');
  check([
    {
      name: 'the latest override wins (listed first)',
      key: 'seats',
      grants: [
        { limit: 30, createdAt: newer },
        { limit: 10, createdAt: older },
      ],
      expected: counted({ limit: 30, source: 'grant' }),
    },
    {
      name: 'the latest override wins (listed last)',
      key: 'seats',
      grants: [
        { limit: 10, createdAt: older },
        { limit: 30, createdAt: newer },
      ],
      expected: counted({ limit: 30, source: 'grant' }),
    },
    {
      name: 'a later disabling override beats an earlier enabling one',
      key: 'sso',
      grants: [
        { enabled: false, createdAt: newer },
        { enabled: true, createdAt: older },
      ],
      expected: off('no_entitlement'),
    },
    {
      name: 'an override replaces only the terms it sets',
      key: 'api_calls',
      grants: [{ limit: 5000 }],
      expected: counted({ limit: 5000, reset: 'month', overage: 'allow', source: 'grant' }),
    },
    {
      name: 'an override to unlimited',
      key: 'seats',
      grants: [{ limit: null }],
      expected: counted({ limit: null, source: 'grant' }),
    },
    {
      name: 'an override enables a feature for a customer without a subscription',
      key: 'sso',
      subscription: null,
      grants: [{ enabled: true }],
      expected: on('grant'),
    },
    {
      name: 'an override enables a feature while the subscription is not live',
      key: 'sso',
      subscription: { status: 'paused' },
      grants: [{ enabled: true }],
      expected: on('grant'),
    },
    {
      name: 'an override sets a config value',
      key: 'support_tier',
      grants: [{ value: 'email' }],
      expected: configured('email', 'grant'),
    },
  ]);

  const inactive: [string, Partial<Grant>][] = [
    ['not started yet', { startsAt: now + 1 }],
    ['expired', { expiresAt: now - 1 }],
    ['expiring exactly now', { expiresAt: now }],
    ['revoked', { revokedAt: now - 1 }],
    ['for another feature', { feature: 'audit_log' }],
  ];
  check(
    inactive.flatMap(([name, grant]): Row[] => [
      {
        name: `a disabling grant ${name} is ignored`,
        key: 'sso',
        grants: [{ enabled: false, ...grant }],
        expected: on('plan'),
      },
      {
        name: `an add grant ${name} is ignored`,
        key: 'seats',
        grants: [{ mode: 'add', limit: 100, ...grant }],
        expected: counted({ limit: 5, source: 'plan' }),
      },
    ]),
  );
});

describe('resolve: add-ons', () => {
  const addOn = (planKey: string, quantity = 1, planVersion = 1) => ({ planKey, planVersion, quantity });
  check([
    {
      name: 'add limit × quantity to the base plan',
      key: 'seats',
      subscription: { addOns: [addOn('extra_seats', 3)] },
      expected: counted({ limit: 35, source: 'plan' }),
    },
    {
      name: 'keep the base plan reset when adding units',
      key: 'api_calls',
      subscription: { addOns: [addOn('extra_calls', 2)] },
      expected: counted({ limit: 2000, reset: 'month', overage: 'allow', source: 'plan' }),
    },
    {
      name: 'give the add-on terms × quantity when the base plan lacks the feature',
      key: 'seats',
      subscription: { planKey: 'free', addOns: [addOn('extra_seats', 2)] },
      expected: counted({ limit: 20, source: 'addon' }),
    },
    {
      name: 'leave an unlimited base unlimited',
      key: 'seats',
      subscription: { planKey: 'enterprise', addOns: [addOn('extra_seats', 4)] },
      expected: counted({ limit: null, source: 'plan' }),
    },
    {
      name: 'switch on a boolean the base plan has switched off',
      key: 'audit_log',
      subscription: { addOns: [addOn('audit_addon')] },
      expected: on('addon'),
    },
    {
      name: 'replace the config value',
      key: 'support_tier',
      subscription: { addOns: [addOn('priority_support')] },
      expected: configured('phone', 'plan'),
    },
    {
      name: 'ignore an add-on version the catalog does not hold',
      key: 'seats',
      subscription: { addOns: [addOn('extra_seats', 3, 9)] },
      expected: counted({ limit: 5, source: 'plan' }),
    },
    {
      name: 'give nothing while the subscription is not live',
      key: 'audit_log',
      subscription: { status: 'canceled', addOns: [addOn('audit_addon')] },
      expected: off('subscription_inactive'),
    },
  ]);
});

describe('resolve: the subscription must be live', () => {
  const past = now - 1;
  const future = now + 86_400_000;
  const cases: [string, Partial<Subscription> | null, Summary][] = [
    ['active', {}, on('plan')],
    ['past_due (grace)', { status: 'past_due' }, on('plan')],
    ['trialing', { status: 'trialing', trialEnd: future }, on('plan')],
    [
      'trial ended with on_trial_end "activate"',
      { status: 'trialing', trialEnd: past, onTrialEnd: 'activate' },
      on('plan'),
    ],
    ['canceled', { status: 'canceled' }, off('subscription_inactive')],
    ['expired', { status: 'expired' }, off('subscription_inactive')],
    ['paused', { status: 'paused' }, off('subscription_inactive')],
    ['cancel_at passed', { cancelAt: past }, off('subscription_inactive')],
    ['ends_at passed', { endsAt: past }, off('subscription_inactive')],
    ['trial ended with on_trial_end "cancel"', { status: 'trialing', trialEnd: past }, off('subscription_inactive')],
    ['no subscription', null, off('no_entitlement')],
    ['a plan version missing from the catalog', { planVersion: 7 }, off('no_entitlement')],
  ];
  check(cases.map(([name, subscription, expected]) => ({ name, key: 'sso', subscription, expected })));

  check([
    {
      name: 'a live plan without the feature: no_entitlement',
      key: 'audit_log',
      expected: off('no_entitlement'),
    },
    {
      name: 'targeting "off" on an inactive subscription: no_entitlement, it was switched off',
      key: 'sso',
      feature: { targeting: always('off') },
      subscription: { status: 'canceled' },
      expected: off('no_entitlement'),
    },
    {
      name: 'no targeting answer on an inactive subscription: subscription_inactive',
      key: 'sso',
      feature: { targeting: inEurope('off') },
      subscription: { status: 'canceled' },
      expected: off('subscription_inactive'),
    },
  ]);
});

describe('resolve: the default variant answers last', () => {
  check([
    {
      name: 'a plan without the feature: the default variant "on" enables it',
      key: 'audit_log',
      feature: { defaultVariant: 'on' },
      expected: on('default'),
    },
    {
      name: 'the plan term wins over the default variant',
      key: 'seats',
      feature: { variants: { few: 1 }, defaultVariant: 'few' },
      expected: counted({ limit: 5, source: 'plan' }),
    },
    {
      name: 'no subscription: a metered default variant is the limit, with the defaults of targeting',
      key: 'exports',
      feature: { variants: { trial: 3 }, defaultVariant: 'trial' },
      subscription: null,
      expected: counted({ limit: 3, source: 'default', reset: 'billing_period' }),
    },
    {
      name: 'a config default variant is the value when nothing else gives one',
      key: 'support_tier',
      feature: { defaultVariant: 'email' },
      subscription: null,
      expected: configured('email', 'default'),
    },
    {
      name: 'targeting that answers wins over the default variant',
      key: 'audit_log',
      feature: { defaultVariant: 'on', targeting: inEurope('off') },
      traits: { country: 'DE' },
      expected: off('no_entitlement'),
    },
    {
      name: 'targeting that answers nothing falls through to the default variant',
      key: 'audit_log',
      feature: { defaultVariant: 'on', targeting: inEurope('off') },
      traits: { country: 'US' },
      expected: on('default'),
    },
    {
      name: 'a default variant "off" is no opinion: an add grant still enables a metered feature',
      key: 'exports',
      feature: { defaultVariant: 'off' },
      subscription: null,
      grants: [{ mode: 'add', limit: 7 }],
      expected: counted({ limit: 7, source: 'grant', reset: 'never' }),
    },
    {
      name: 'an override grant switches off what the default variant switched on',
      key: 'audit_log',
      feature: { defaultVariant: 'on' },
      grants: [{ mode: 'override', enabled: false }],
      expected: off('no_entitlement'),
    },
    {
      name: 'the kill switch beats the default variant',
      key: 'audit_log',
      feature: { defaultVariant: 'on', status: 'disabled' },
      expected: off('feature_disabled'),
    },
    {
      name: 'an inactive subscription: the default variant still answers',
      key: 'sso',
      feature: { defaultVariant: 'on' },
      subscription: { status: 'canceled' },
      expected: on('default'),
    },
  ]);
});

describe('resolve: resets by default', () => {
  check([
    {
      name: 'a metered term without a reset resets with the billing period',
      key: 'exports',
      expected: counted({ limit: 10, reset: 'billing_period', source: 'plan' }),
    },
    {
      name: 'a rolling window has no calendar reset',
      key: 'ai_tokens',
      expected: counted({ limit: 100, reset: null, window: '5h', source: 'plan' }),
    },
    {
      name: 'a gauge never has a reset',
      key: 'seats',
      expected: counted({ limit: 5, source: 'plan' }),
    },
  ]);
});

describe('resolve: the snapshot', () => {
  const catalog = buildCatalog({ features, planVersions });

  it('resolves every feature of the catalog and reports the effective subscription status', () => {
    const snapshot = resolve({
      catalog,
      now,
      state: { customer: buildCustomer(), subscription: buildSubscription({ cancelAt: now - 1 }), grants: [] },
    });
    expect({ ...snapshot, entitlements: [...snapshot.entitlements.keys()] }).toEqual({
      customerId: 'cus_acme',
      planKey: 'pro',
      planVersion: 1,
      subscriptionStatus: 'canceled',
      entitlements: features.map((f) => f.key),
      validUntil: Number.POSITIVE_INFINITY,
    });
  });

  it('has no plan and no status without a subscription', () => {
    const snapshot = resolve({ catalog, now, state: { customer: buildCustomer(), subscription: null, grants: [] } });
    expect([snapshot.planKey, snapshot.planVersion, snapshot.subscriptionStatus]).toEqual([null, null, null]);
  });

  it("anchors billing-period resets on the subscription's billing anchor and interval", () => {
    const billingOf = (subscription: Subscription | null) =>
      resolve({ catalog, now, state: { customer: buildCustomer(), subscription, grants: [] } }).entitlements.get(
        'api_calls',
      )?.billing;
    const anchor = utc('2026-01-31T00:00:00Z');
    // The anchor, not the current period's start: a Jan 31 start whose period now starts May 31
    // after a Feb 28 renewal must keep counting from the 31st.
    const renewed = { billingAnchor: anchor, currentPeriodStart: utc('2026-05-31T00:00:00Z') };
    expect(billingOf(buildSubscription(renewed))).toEqual({ anchor, interval: 'month' });
    expect(billingOf(buildSubscription({ ...renewed, planKey: 'enterprise', interval: 'year' }))).toEqual({
      anchor,
      interval: 'year',
    });
    expect(billingOf(null)).toBeNull();
  });

  describe('validUntil is the earliest future instant at which time alone changes the answer', () => {
    const at = (day: number) => utc(`2026-06-${String(day).padStart(2, '0')}T00:00:00Z`);
    const cases: {
      name: string;
      subscription: Partial<Subscription> | null;
      grants: Partial<Grant>[];
      until: number;
    }[] = [
      // The catalog's metered feature resets monthly: its period end is always a boundary.
      { name: 'only the usage period rolls over', subscription: {}, grants: [], until: Date.UTC(2026, 6, 1) },
      {
        name: 'nothing at all without a subscription',
        subscription: null,
        grants: [],
        until: Number.POSITIVE_INFINITY,
      },
      { name: 'a scheduled cancellation', subscription: { cancelAt: at(20) }, grants: [], until: at(20) },
      { name: 'a contract end', subscription: { endsAt: at(25) }, grants: [], until: at(25) },
      {
        name: 'a trial end',
        subscription: { status: 'trialing', trialEnd: at(18) },
        grants: [],
        until: at(18),
      },
      { name: 'a grant that starts later', subscription: {}, grants: [{ startsAt: at(17) }], until: at(17) },
      { name: 'a grant that expires', subscription: null, grants: [{ expiresAt: at(16) }], until: at(16) },
      {
        name: 'the earliest of them all, past instants ignored',
        subscription: { cancelAt: at(20), trialEnd: at(1), status: 'trialing', onTrialEnd: 'activate' },
        grants: [
          { startsAt: at(1), expiresAt: at(28) },
          { feature: 'seats', mode: 'add', limit: 1, startsAt: at(19) },
          { expiresAt: at(10) },
        ],
        until: at(19),
      },
    ];
    it.each(cases)('$name', ({ subscription, grants, until }) => {
      const snapshot = resolve({
        catalog,
        now,
        state: {
          customer: buildCustomer(),
          subscription: subscription === null ? null : buildSubscription(subscription),
          grants: grants.map((grant) => buildGrant({ feature: 'sso', enabled: true, ...grant })),
        },
      });
      expect(snapshot.validUntil).toBe(until);
    });
  });
});

describe('resolveFeature', () => {
  const beta = buildFeature({ key: 'beta', targeting: { if: [{ '==': [{ var: 'device' }, 'ios'] }, 'on', null] } });
  const catalog = buildCatalog({ features: [...features, beta], planVersions });
  const state = { customer: buildCustomer(), subscription: buildSubscription(), grants: [] };

  it('answers what resolve answers for that feature', () => {
    for (const feature of catalog.features.values()) {
      expect(resolveFeature({ catalog, state, feature, now })).toEqual(
        resolve({ catalog, state, now }).entitlements.get(feature.key),
      );
    }
  });

  it('evaluates targeting with the caller context of the check', () => {
    expect(resolveFeature({ catalog, state, feature: beta, now, callerContext: { device: 'ios' } }).enabled).toBe(true);
    expect(resolveFeature({ catalog, state, feature: beta, now, callerContext: { device: 'web' } }).enabled).toBe(
      false,
    );
  });

  it('lets stored traits win over the caller context', () => {
    const stored = { ...state, customer: buildCustomer({ traits: { device: 'web' } }) };
    expect(
      resolveFeature({ catalog, state: stored, feature: beta, now, callerContext: { device: 'ios' } }).enabled,
    ).toBe(false);
  });

  it('does not let the caller context claim another plan', () => {
    const enterpriseOnly = buildFeature({
      key: 'enterprise_beta',
      targeting: { if: [{ '==': [{ var: 'plan' }, 'enterprise'] }, 'on', null] },
    });
    const withRule = buildCatalog({ features: [enterpriseOnly], planVersions });
    const answer = (planKey: string, callerContext: JsonObject) =>
      resolveFeature({
        catalog: withRule,
        state: { ...state, subscription: buildSubscription({ planKey }) },
        feature: enterpriseOnly,
        now,
        callerContext,
      }).enabled;
    expect(answer('enterprise', {})).toBe(true);
    expect(answer('pro', { plan: 'enterprise', subscription_status: 'active' })).toBe(false);
  });
});

describe('resolve: the fallback plan', () => {
  const withFallback = buildCatalog({ features, planVersions, fallbackPlan: 'free' });
  const snapshotOf = (subscription: Subscription | null) =>
    resolve({ catalog: withFallback, now, state: { customer: buildCustomer(), subscription, grants: [] } });

  it.each([
    ['no subscription', null],
    ['a canceled one', buildSubscription({ status: 'canceled' })],
    ['a paused one', buildSubscription({ status: 'paused' })],
    ['one whose cancellation at period end has passed', buildSubscription({ cancelAt: now - 1 })],
  ])('gives the fallback plan to a customer with %s', (_name, subscription) => {
    const snapshot = snapshotOf(subscription);
    expect(snapshot.planKey).toBe('free');
    expect(snapshot.entitlements.get('api_calls')).toMatchObject({ enabled: true, limit: 100, source: 'plan' });
    // What the fallback lacks is not an inactive subscription: it is not in the plan they have.
    expect(snapshot.entitlements.get('sso')).toMatchObject({ enabled: false, denial: 'no_entitlement' });
  });

  it('leaves a live subscription on its own plan', () => {
    const snapshot = snapshotOf(buildSubscription({ planKey: 'pro' }));
    expect(snapshot.planKey).toBe('pro');
    expect(snapshot.entitlements.get('sso')).toMatchObject({ enabled: true });
  });

  it('falls back to nothing when the configured plan is not published', () => {
    const missing = buildCatalog({ features, planVersions, fallbackPlan: 'nope' });
    expect(missing.fallback).toBeNull();
    const snapshot = resolve({
      catalog: missing,
      now,
      state: { customer: buildCustomer(), subscription: null, grants: [] },
    });
    expect(snapshot.entitlements.get('api_calls')).toMatchObject({ enabled: false });
  });
});
