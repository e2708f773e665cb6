import { describe, expect, it } from 'vitest';
import type { Feature } from '../catalog/feature.js';
import type { FieldError } from '../errors.js';
import { buildFeature, buildGrant, utc } from '../test-builders.js';
import { type Grant, grantBoundaries, isGrantActive, rolloverCarries, validateGrant } from './grant.js';

const now = utc('2026-06-15T12:00:00Z');
const problem = (path: string, fragment: string): FieldError => ({ path, message: expect.stringContaining(fragment) });

describe('isGrantActive', () => {
  it.each([
    { name: 'open-ended', grant: {}, active: true },
    { name: 'started earlier', grant: { startsAt: now - 1 }, active: true },
    { name: 'starting exactly now', grant: { startsAt: now }, active: true },
    { name: 'not started yet', grant: { startsAt: now + 1 }, active: false },
    { name: 'expiring later', grant: { expiresAt: now + 1 }, active: true },
    { name: 'expiring exactly now', grant: { expiresAt: now }, active: false },
    { name: 'expired', grant: { expiresAt: now - 1 }, active: false },
    { name: 'revoked', grant: { revokedAt: now - 1 }, active: false },
    { name: 'revoked exactly now', grant: { revokedAt: now }, active: false },
    { name: 'revocation stamped in the future', grant: { revokedAt: now + 1 }, active: true },
    { name: 'inside its window', grant: { startsAt: now - 10, expiresAt: now + 10 }, active: true },
  ])('$name: $active', ({ grant, active }) => {
    expect(isGrantActive(buildGrant({ feature: 'sso', ...grant }), now)).toBe(active);
  });
});

describe('grantBoundaries', () => {
  it.each([
    { name: 'open-ended', grant: {}, boundaries: [] },
    {
      name: 'a future start and expiry',
      grant: { startsAt: now + 5, expiresAt: now + 9 },
      boundaries: [now + 5, now + 9],
    },
    { name: 'already started', grant: { startsAt: now - 5, expiresAt: now + 9 }, boundaries: [now + 9] },
    { name: 'an instant equal to now is not ahead', grant: { startsAt: now, expiresAt: now }, boundaries: [] },
  ])('$name', ({ grant, boundaries }) => {
    expect(grantBoundaries(buildGrant({ feature: 'sso', ...grant }), now)).toEqual(boundaries);
  });
});

describe('validateGrant', () => {
  const boolean = buildFeature({ key: 'sso' });
  const metered = buildFeature({ type: 'metered', key: 'api_calls' });
  const gauge = buildFeature({ type: 'gauge', key: 'seats' });
  const config = buildFeature({ type: 'config', key: 'support_tier', options: ['email', 'phone'] });

  type GrantInput = Pick<Grant, 'mode' | 'enabled' | 'limit' | 'value' | 'startsAt' | 'expiresAt'>;
  const grant = (input: Partial<GrantInput>): GrantInput => ({
    mode: 'override',
    enabled: undefined,
    limit: undefined,
    value: undefined,
    startsAt: null,
    expiresAt: null,
    ...input,
  });

  const cases: { name: string; feature: Feature; grant: GrantInput; errors: FieldError[] }[] = [
    { name: 'enable a boolean', feature: boolean, grant: grant({ enabled: true }), errors: [] },
    { name: 'disable a boolean', feature: boolean, grant: grant({ enabled: false }), errors: [] },
    { name: 'override a limit', feature: metered, grant: grant({ limit: 5000 }), errors: [] },
    { name: 'override to unlimited', feature: gauge, grant: grant({ limit: null }), errors: [] },
    {
      name: 'disable a metered feature (no limit needed)',
      feature: metered,
      grant: grant({ enabled: false }),
      errors: [],
    },
    { name: 'add units', feature: metered, grant: grant({ mode: 'add', limit: 500 }), errors: [] },
    { name: 'set a config value', feature: config, grant: grant({ value: 'phone' }), errors: [] },
    { name: 'disable a config feature', feature: config, grant: grant({ enabled: false }), errors: [] },
    {
      name: 'add to a boolean',
      feature: boolean,
      grant: grant({ mode: 'add' }),
      errors: [problem('/mode', '"add" needs a metered or gauge feature')],
    },
    {
      name: 'add without units',
      feature: gauge,
      grant: grant({ mode: 'add' }),
      errors: [problem('/limit', 'positive number of units')],
    },
    {
      name: 'add zero units',
      feature: metered,
      grant: grant({ mode: 'add', limit: 0 }),
      errors: [problem('/limit', 'positive number of units')],
    },
    {
      name: 'add unlimited',
      feature: metered,
      grant: grant({ mode: 'add', limit: null }),
      errors: [problem('/limit', 'positive number of units')],
    },
    {
      name: 'add a negative amount',
      feature: metered,
      grant: grant({ mode: 'add', limit: -5 }),
      errors: [problem('/limit', 'positive number of units'), problem('/limit', 'non-negative integer')],
    },
    { name: 'one-off credits', feature: metered, grant: grant({ mode: 'credit', limit: 5000 }), errors: [] },
    {
      name: 'credits on a gauge',
      feature: gauge,
      grant: grant({ mode: 'credit', limit: 5 }),
      errors: [problem('/mode', '"credit" needs a metered feature')],
    },
    {
      name: 'credits to a feature drawing from a pool',
      feature: buildFeature({ type: 'metered', key: 'gpt4', creditCost: { pool: 'credits', perUnit: 5 } }),
      grant: grant({ mode: 'credit', limit: 5 }),
      errors: [problem('/feature', 'grant credits to the pool')],
    },
    {
      name: 'unlimited credits',
      feature: metered,
      grant: grant({ mode: 'credit', limit: null }),
      errors: [problem('/limit', 'positive number of units')],
    },
    {
      name: 'credits that disable',
      feature: metered,
      grant: grant({ mode: 'credit', limit: 5, enabled: false }),
      errors: [problem('/enabled', 'cannot disable')],
    },
    {
      name: 'an add that disables',
      feature: metered,
      grant: grant({ mode: 'add', limit: 5, enabled: false }),
      errors: [problem('/enabled', 'cannot disable')],
    },
    {
      name: 'a limit on a boolean',
      feature: boolean,
      grant: grant({ enabled: true, limit: 3 }),
      errors: [problem('/limit', 'a boolean feature has no limit')],
    },
    {
      name: 'a fractional limit',
      feature: metered,
      grant: grant({ limit: 1.5 }),
      errors: [problem('/limit', 'non-negative integer')],
    },
    {
      name: 'an override of a metered feature without a limit',
      feature: metered,
      grant: grant({ enabled: true }),
      errors: [problem('/limit', 'is required')],
    },
    {
      name: 'a config grant without a value',
      feature: config,
      grant: grant({ enabled: true }),
      errors: [problem('/value', 'needs a value')],
    },
    {
      name: 'a config value outside the options',
      feature: config,
      grant: grant({ value: 'pager' }),
      errors: [problem('/value', 'must be one of ["email","phone"]')],
    },
    {
      name: 'a value on a gauge',
      feature: gauge,
      grant: grant({ limit: 3, value: 'x' }),
      errors: [problem('/value', 'a gauge feature has no value')],
    },
    {
      name: 'an expiry before the start',
      feature: boolean,
      grant: grant({ enabled: true, startsAt: now, expiresAt: now - 1 }),
      errors: [problem('/expires_at', 'after starts_at')],
    },
    {
      name: 'an expiry equal to the start',
      feature: boolean,
      grant: grant({ enabled: true, startsAt: now, expiresAt: now }),
      errors: [problem('/expires_at', 'after starts_at')],
    },
    {
      name: 'an expiry without a start',
      feature: boolean,
      grant: grant({ enabled: true, expiresAt: now - 1 }),
      errors: [],
    },
  ];

  it.each(cases)('$name', ({ feature, grant, errors }) => {
    expect(validateGrant({ grant, feature })).toEqual(errors);
  });
});

describe('rolloverCarries', () => {
  const add = (id: string, limit: number, rolloverCap: number | null, createdAt: number) =>
    buildGrant({ id, feature: 'api_calls', mode: 'add', limit, rolloverCap, createdAt });
  const carries = (input: Parameters<typeof rolloverCarries>[0]) =>
    rolloverCarries(input).map((c) => [c.grant.id, c.carry]);

  it.each([
    // limit = allowance 100 + grants; usage draws the allowance first, then grants oldest first.
    { name: 'nothing used beyond the allowance: all of it carries, up to the cap', usage: 80, expected: [['a', 50]] },
    { name: 'part of the grant used', usage: 130, expected: [['a', 20]] },
    { name: 'the grant used up', usage: 150, expected: [] },
    { name: 'usage past the whole limit (overage)', usage: 400, expected: [] },
  ])('$name', ({ usage, expected }) => {
    expect(carries({ limit: 150, usage, addGrants: [add('a', 50, 80, 1)] })).toEqual(expected);
  });

  it('caps what carries, and draws older grants first', () => {
    const grants = [add('newer', 40, 10, 2), add('older', 30, 100, 1)];
    // allowance 100, older 30, newer 40 = 170; 115 used: 15 of older, none of newer.
    expect(carries({ limit: 170, usage: 115, addGrants: grants })).toEqual([
      ['older', 15],
      ['newer', 10],
    ]);
  });

  it('carries nothing from a grant without a cap, or on an unlimited feature', () => {
    expect(carries({ limit: 150, usage: 0, addGrants: [add('a', 50, null, 1)] })).toEqual([]);
    expect(carries({ limit: null, usage: 0, addGrants: [add('a', 50, 10, 1)] })).toEqual([]);
  });
});

describe('validateGrant: rollover_cap', () => {
  const metered = buildFeature({ type: 'metered', key: 'api_calls' });
  it.each([
    ['on an override', { mode: 'override' as const, limit: 10 }, metered],
    ['on a gauge', { mode: 'add' as const, limit: 10 }, buildFeature({ type: 'gauge', key: 'seats' })],
  ])('refuses a rollover cap %s', (_name, grant, feature) => {
    const errors = validateGrant({
      grant: { ...buildGrant({ feature: feature.key, ...grant }), rolloverCap: 5 },
      feature,
    });
    expect(errors.map((e) => e.path)).toContain('/rollover_cap');
  });

  it('takes one on an add grant of a metered feature', () => {
    const grant = buildGrant({ feature: 'api_calls', mode: 'add', limit: 10, rolloverCap: 5 });
    expect(validateGrant({ grant, feature: metered })).toEqual([]);
  });
});
