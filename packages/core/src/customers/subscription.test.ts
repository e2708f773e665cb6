import { describe, expect, it } from 'vitest';
import { buildSubscription, utc } from '../test-builders.js';
import {
  addInterval,
  effectiveStatus,
  isLive,
  periodContaining,
  type Subscription,
  type SubscriptionStatus,
  statusBoundaries,
  trialEndFrom,
} from './subscription.js';

const now = utc('2026-06-15T12:00:00Z');
const before = now - 1;
const after = now + 1;

describe('effectiveStatus and isLive', () => {
  const cases: { name: string; subscription: Partial<Subscription>; status: SubscriptionStatus; live: boolean }[] = [
    { name: 'active', subscription: { status: 'active' }, status: 'active', live: true },
    { name: 'past_due keeps access', subscription: { status: 'past_due' }, status: 'past_due', live: true },
    { name: 'paused', subscription: { status: 'paused' }, status: 'paused', live: false },
    { name: 'canceled', subscription: { status: 'canceled' }, status: 'canceled', live: false },
    { name: 'expired', subscription: { status: 'expired' }, status: 'expired', live: false },
    {
      name: 'a stored non-live status wins over future instants',
      subscription: { status: 'paused', cancelAt: after, trialEnd: after },
      status: 'paused',
      live: false,
    },
    {
      name: 'cancel_at still ahead',
      subscription: { status: 'active', cancelAt: after },
      status: 'active',
      live: true,
    },
    {
      name: 'cancel_at reached exactly',
      subscription: { status: 'active', cancelAt: now },
      status: 'canceled',
      live: false,
    },
    {
      name: 'cancel_at passed before any job ran',
      subscription: { status: 'past_due', cancelAt: before },
      status: 'canceled',
      live: false,
    },
    {
      name: 'ends_at (contract end) passed',
      subscription: { status: 'active', endsAt: before },
      status: 'expired',
      live: false,
    },
    {
      name: 'cancel_at is checked before ends_at',
      subscription: { status: 'active', cancelAt: before, endsAt: before },
      status: 'canceled',
      live: false,
    },
    {
      name: 'trial still running',
      subscription: { status: 'trialing', trialEnd: after },
      status: 'trialing',
      live: true,
    },
    {
      name: 'trial ended, nobody paid (on_trial_end cancel)',
      subscription: { status: 'trialing', trialEnd: now, onTrialEnd: 'cancel' },
      status: 'expired',
      live: false,
    },
    {
      name: 'trial ended, billing set to activate',
      subscription: { status: 'trialing', trialEnd: before, onTrialEnd: 'activate' },
      status: 'active',
      live: true,
    },
    {
      name: 'trial end on an already active subscription is history',
      subscription: { status: 'active', trialEnd: before, onTrialEnd: 'cancel' },
      status: 'active',
      live: true,
    },
    {
      name: 'a pause ended by itself, with a cancellation taken before it passed too',
      subscription: { status: 'paused', resumesAt: before, cancelAt: before },
      status: 'canceled',
      live: false,
    },
    {
      name: 'trial canceled during the trial',
      subscription: { status: 'trialing', trialEnd: after, cancelAt: before },
      status: 'canceled',
      live: false,
    },
  ];

  it.each(cases)('$name → $status', ({ subscription, status, live }) => {
    const built = buildSubscription(subscription);
    expect(effectiveStatus(built, now)).toBe(status);
    expect(isLive(built, now)).toBe(live);
  });
});

describe('statusBoundaries', () => {
  it.each([
    { name: 'no instants', subscription: {}, boundaries: [] },
    { name: 'future cancel_at', subscription: { cancelAt: after }, boundaries: [after] },
    {
      name: 'past or present instants are not boundaries',
      subscription: { cancelAt: now, endsAt: before },
      boundaries: [],
    },
    {
      name: 'cancel_at and ends_at',
      subscription: { cancelAt: after + 5, endsAt: after },
      boundaries: [after + 5, after],
    },
    {
      name: 'trial end while trialing',
      subscription: { status: 'trialing', trialEnd: after } as const,
      boundaries: [after],
    },
    {
      name: 'trial end of an active subscription changes nothing',
      subscription: { status: 'active', trialEnd: after } as const,
      boundaries: [],
    },
  ])('$name', ({ subscription, boundaries }) => {
    expect(statusBoundaries(buildSubscription(subscription), now)).toEqual(boundaries);
  });
});

describe('addInterval', () => {
  it.each([
    ['2026-01-15T09:30:00.250Z', 'month', 1, '2026-02-15T09:30:00.250Z'],
    ['2026-12-15T00:00:00Z', 'month', 1, '2027-01-15T00:00:00.000Z'],
    ['2028-01-31T00:00:00Z', 'month', 1, '2028-02-29T00:00:00.000Z'],
    ['2028-01-31T00:00:00Z', 'month', 2, '2028-03-31T00:00:00.000Z'],
    ['2028-01-31T00:00:00Z', 'month', 3, '2028-04-30T00:00:00.000Z'],
    ['2027-01-31T00:00:00Z', 'month', 1, '2027-02-28T00:00:00.000Z'],
    ['2026-08-31T23:59:59Z', 'month', 1, '2026-09-30T23:59:59.000Z'],
    ['2026-03-31T00:00:00Z', 'month', 0, '2026-03-31T00:00:00.000Z'],
    ['2026-03-31T00:00:00Z', 'month', 25, '2028-04-30T00:00:00.000Z'],
    ['2028-02-29T00:00:00Z', 'year', 1, '2029-02-28T00:00:00.000Z'],
    ['2028-02-29T00:00:00Z', 'year', 4, '2032-02-29T00:00:00.000Z'],
    ['2026-06-15T12:00:00Z', 'year', 100, '2126-06-15T12:00:00.000Z'],
  ] as const)('%s + %s × %i = %s', (anchor, interval, count, expected) => {
    expect(new Date(addInterval({ anchor: utc(anchor), interval, count })).toISOString()).toBe(expected);
  });
});

describe('periodContaining', () => {
  const iso = (ms: number) => new Date(ms).toISOString();

  // Times without a clock part are UTC midnight.
  it.each([
    ['inside the first period', '2026-01-31', 'month', '2026-02-10', '2026-01-31', '2026-02-28'],
    ['at the anchor itself', '2026-01-31', 'month', '2026-01-31', '2026-01-31', '2026-02-28'],
    ['exactly at a period end', '2026-01-31', 'month', '2026-02-28', '2026-02-28', '2026-03-31'],
    ['a clamped month in a leap year', '2028-01-31', 'month', '2028-03-05', '2028-02-29', '2028-03-31'],
    ['back on the 31st after a short month', '2028-01-31', 'month', '2028-04-01', '2028-03-31', '2028-04-30'],
    ['yearly, from a leap day', '2028-02-29', 'year', '2030-03-01', '2030-02-28', '2031-02-28'],
    ['a century ahead', '2026-01-31T10:00Z', 'month', '2126-02-28T09:59Z', '2126-01-31T10:00Z', '2126-02-28T10:00Z'],
    ['a millennium ahead, yearly', '2028-02-29', 'year', '3028-03-01', '3028-02-29', '3029-02-28'],
    ['before the anchor: the period before the first', '2026-06-01', 'month', '2026-05-20', '2026-05-01', '2026-06-01'],
    ['well before the anchor, month-end clamped', '2026-01-31', 'month', '2025-11-15', '2025-10-31', '2025-11-30'],
  ] as const)('%s', (_name, anchor, interval, at, start, end) => {
    const period = periodContaining({ anchor: utc(anchor), interval, now: utc(at) });
    expect({ start: iso(period.start), end: iso(period.end) }).toEqual({ start: iso(utc(start)), end: iso(utc(end)) });
  });

  it('agrees with counting periods one by one, for month-end anchors up to 150 years ahead', () => {
    const mismatches: string[] = [];
    for (const anchorIso of ['2026-01-28', '2026-01-29', '2026-01-30', '2026-01-31', '2027-12-31', '2028-02-29']) {
      const anchor = utc(`${anchorIso}T07:00:00Z`);
      for (const interval of ['month', 'year'] as const) {
        let count = 0;
        for (let step = 0; step < 1800; step++) {
          // Probe the instant just before, at and just after each period boundary.
          const boundary = addInterval({ anchor, interval, count: step });
          for (const probe of [boundary - 1, boundary, boundary + 1]) {
            if (probe < anchor) continue;
            while (addInterval({ anchor, interval, count: count + 1 }) <= probe) count++;
            while (addInterval({ anchor, interval, count }) > probe) count--;
            const got = periodContaining({ anchor, interval, now: probe });
            const start = addInterval({ anchor, interval, count });
            const end = addInterval({ anchor, interval, count: count + 1 });
            if (got.start !== start || got.end !== end) mismatches.push(`${anchorIso} ${interval} @${probe}`);
          }
          if (interval === 'year' && step > 150) break;
        }
      }
    }
    expect(mismatches).toEqual([]);
  });
});

describe('trialEndFrom', () => {
  it.each([
    [0, '2026-06-15T12:00:00.000Z'],
    [14, '2026-06-29T12:00:00.000Z'],
    [30, '2026-07-15T12:00:00.000Z'],
  ])('%i days', (days, end) => {
    expect(new Date(trialEndFrom({ start: now, days })).toISOString()).toBe(end);
  });
});
