import {
  buildCatalog,
  type Catalog,
  type CustomerState,
  decide,
  type Feature,
  type PlanEntitlement,
  type PlanVersion,
  resolve,
} from '@keymaster/core';
import { percentile, round } from './stats.js';

export interface MicroResult {
  name: string;
  calls: number;
  /** Total time over total calls. */
  nsPerCall: number;
  /**
   * Percentiles of the per-call time of each batch. A single call is too short to time on its
   * own, so these show how steady the per-call cost is (GC pauses, deoptimisation), not the
   * latency of one call.
   */
  batchP50Ns: number;
  batchP99Ns: number;
}

export interface DecideBenchResult {
  features: number;
  plans: number;
  cases: MicroResult[];
  /** Folded from every answer so the optimiser cannot drop the calls; also a sanity check. */
  checksum: { allowed: number; denied: number };
}

const now = Date.parse('2026-06-15T12:00:00Z');
const terms = { enabled: true, limit: null, reset: null, window: null, overage: 'block', value: null } as const;
const base = { description: null, status: 'published', kind: 'base', trialDays: null, version: 1 } as const;

function feature(key: string, type: Feature['type']): Feature {
  const common = {
    key,
    name: key,
    unit: null,
    status: 'active',
    targeting: null,
    variants: null,
    defaultVariant: null,
    metadata: null,
  } as const;
  if (type === 'metered') return { ...common, type, meter: null, creditCost: null };
  if (type === 'config') return { ...common, type, options: null };
  return { ...common, type };
}

function plan(key: string, amount: number, entitlements: Partial<PlanEntitlement>[]): PlanVersion {
  return {
    ...base,
    key,
    name: key,
    price: { amount, currency: 'usd', interval: 'month' },
    entitlements: entitlements.map((e) => ({ ...terms, feature: '', ...e })),
  };
}

/** The same catalog as the HTTP benchmarks: six features, three published plans. */
export function benchCatalog(): Catalog {
  return buildCatalog({
    features: [
      feature('api_calls', 'metered'),
      feature('exports', 'metered'),
      feature('seats', 'gauge'),
      feature('sso', 'boolean'),
      feature('audit_log', 'boolean'),
      feature('support_tier', 'config'),
    ],
    planVersions: [
      plan('starter', 900, [
        { feature: 'api_calls', limit: 1_000, reset: 'month' },
        { feature: 'exports', limit: 10, reset: 'month' },
        { feature: 'seats', limit: 3 },
        { feature: 'support_tier', value: 'email' },
      ]),
      plan('pro', 4900, [
        { feature: 'api_calls', limit: 100_000, reset: 'month' },
        { feature: 'exports', limit: 1_000, reset: 'month' },
        { feature: 'seats', limit: 20 },
        { feature: 'sso' },
        { feature: 'support_tier', value: 'priority' },
      ]),
      plan('business', 19900, [
        { feature: 'api_calls', limit: null, reset: 'month' },
        { feature: 'exports', limit: null, reset: 'month' },
        { feature: 'seats', limit: null },
        { feature: 'sso' },
        { feature: 'audit_log' },
        { feature: 'support_tier', value: 'dedicated' },
      ]),
    ],
  });
}

/** A customer on `planKey` with one grant of extra exports, as the server would load them. */
export function benchCustomer(planKey: string): CustomerState {
  return {
    customer: { id: `acme-${planKey}`, name: 'Acme', email: null, traits: { country: 'DE' } },
    subscription: {
      id: `sub_${planKey}`,
      customerId: `acme-${planKey}`,
      planKey,
      planVersion: 1,
      status: 'active',
      currentPeriodStart: Date.parse('2026-06-01T00:00:00Z'),
      currentPeriodEnd: Date.parse('2026-07-01T00:00:00Z'),
      interval: 'month',
      billingAnchor: Date.parse('2026-06-01T00:00:00Z'),
      trialEnd: null,
      trialNoticeSent: false,
      onTrialEnd: 'cancel',
      cancelAt: null,
      canceledAt: null,
      endsAt: null,
      onEndsAt: 'expire',
      contractMonths: null,
      graceEndsAt: null,
      resumesAt: null,
      scheduledChange: null,
      addOns: [],
      source: 'api',
      createdAt: Date.parse('2026-06-01T00:00:00Z'),
    },
    grants: [
      {
        id: 'grt_1',
        customerId: `acme-${planKey}`,
        feature: 'exports',
        mode: 'add',
        enabled: undefined,
        limit: 50,
        value: undefined,
        startsAt: null,
        expiresAt: Date.parse('2026-12-31T00:00:00Z'),
        reason: 'goodwill',
        createdAt: Date.parse('2026-06-01T00:00:00Z'),
        revokedAt: null,
        remaining: null,
        rolloverCap: null,
      },
    ],
  };
}

/**
 * Times `call(i)` over `calls` calls split into `batches`, after `warmupCalls` untimed calls that
 * let the JIT settle. `call` returns 1 for an allowed answer and 0 otherwise.
 */
function measure(input: {
  name: string;
  calls: number;
  batches: number;
  warmupCalls: number;
  call: (i: number) => number;
  tally: DecideBenchResult['checksum'];
}): MicroResult {
  const { call, tally } = input;
  for (let i = 0; i < input.warmupCalls; i++) call(i);
  const perBatch = Math.max(1, Math.floor(input.calls / input.batches));
  const batchNs: number[] = [];
  let total = 0n;
  let i = 0;
  for (let b = 0; b < input.batches; b++) {
    let allowed = 0;
    const started = process.hrtime.bigint();
    for (const end = i + perBatch; i < end; i++) allowed += call(i);
    const elapsed = process.hrtime.bigint() - started;
    total += elapsed;
    batchNs.push(Number(elapsed) / perBatch);
    tally.allowed += allowed;
    tally.denied += perBatch - allowed;
  }
  return {
    name: input.name,
    calls: i,
    nsPerCall: round(Number(total) / i),
    batchP50Ns: round(percentile(batchNs, 50)),
    batchP99Ns: round(percentile(batchNs, 99)),
  };
}

/**
 * `decide` on a resolved entitlement (what every check runs once its customer is cached), for an
 * allowed metered use and for one refused at the limit (which also looks for upgrade plans), and
 * `resolve` of one customer's whole snapshot (what a cache miss or a catalog change costs).
 */
export function runDecideBench(input: {
  calls: number;
  resolveCalls: number;
  batches: number;
  warmupCalls: number;
}): DecideBenchResult {
  const catalog = benchCatalog();
  const tally = { allowed: 0, denied: 0 };
  const states = [benchCustomer('starter'), benchCustomer('pro')] as const;
  const starter = resolve({ catalog, state: states[0], now });
  const pro = resolve({ catalog, state: states[1], now });
  const proCalls = pro.entitlements.get('api_calls')!;
  const starterCalls = starter.entitlements.get('api_calls')!;
  const upgrades = (planKey: string | null) => ({
    candidates: catalog.upgradeCandidates.get('api_calls') ?? [],
    currentPlanKey: planKey,
  });
  const proUpgrades = upgrades(pro.planKey);
  const starterUpgrades = upgrades(starter.planKey);
  const { batches, warmupCalls } = input;

  const cases = [
    measure({
      name: 'decide: metered, allowed',
      calls: input.calls,
      batches,
      warmupCalls,
      tally,
      call: (i) =>
        decide({
          customer: 'acme-pro',
          entitlement: proCalls,
          usage: i & 4095,
          quantity: 1,
          now,
          upgrades: proUpgrades,
        }).allowed
          ? 1
          : 0,
    }),
    measure({
      name: 'decide: metered, denied at limit',
      calls: input.calls,
      batches,
      warmupCalls,
      tally,
      call: (i) =>
        decide({
          customer: 'acme-starter',
          entitlement: starterCalls,
          usage: 1_000 + (i & 7),
          quantity: 1,
          now,
          upgrades: starterUpgrades,
        }).allowed
          ? 1
          : 0,
    }),
    measure({
      name: `resolve: one customer (${catalog.features.size} features)`,
      calls: input.resolveCalls,
      batches,
      warmupCalls: Math.min(warmupCalls, input.resolveCalls),
      tally,
      call: (i) =>
        resolve({ catalog, state: states[i & 1]!, now: now + (i & 1023) }).entitlements.get('api_calls')!.enabled
          ? 1
          : 0,
    }),
  ];
  return { features: catalog.features.size, plans: catalog.latestPublished.size, cases, checksum: tally };
}
