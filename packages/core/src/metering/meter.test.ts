import { describe, expect, it } from 'vitest';
import type { Meter } from '../catalog/feature.js';
import type { UsageEvent } from './event.js';
import { readMeter } from './meter.js';

const meter = (overrides: Partial<Meter>): Meter => ({
  eventType: 'llm.tokens',
  aggregation: 'sum',
  property: 'tokens',
  filter: null,
  ...overrides,
});
const event = (properties: UsageEvent['properties'], type = 'llm.tokens'): UsageEvent => ({
  source: '',
  id: 'e1',
  customerId: 'acme',
  type,
  timestamp: 0,
  properties,
});

describe('readMeter', () => {
  it.each([
    ['count: one per event', meter({ aggregation: 'count', property: null }), event({}), { kind: 'amount', amount: 1 }],
    ['sum: the property', meter({}), event({ tokens: 1200 }), { kind: 'amount', amount: 1200 }],
    ['sum: a numeric string', meter({}), event({ tokens: '12.5' }), { kind: 'amount', amount: 12.5 }],
    ['max: the property', meter({ aggregation: 'max' }), event({ tokens: 7 }), { kind: 'amount', amount: 7 }],
    [
      'latest: the property, negative allowed',
      meter({ aggregation: 'latest' }),
      event({ tokens: -3 }),
      { kind: 'amount', amount: -3 },
    ],
    [
      'unique_count: the value as text',
      meter({ aggregation: 'unique_count', property: 'user' }),
      event({ user: 'u1' }),
      { kind: 'distinct', value: 'u1' },
    ],
    [
      'unique_count: a number as its JSON',
      meter({ aggregation: 'unique_count', property: 'user' }),
      event({ user: 42 }),
      { kind: 'distinct', value: '42' },
    ],
    ['another event type: skipped', meter({}), event({ tokens: 5 }, 'other'), { kind: 'skip' }],
    [
      'a filter that matches',
      meter({ filter: { model: 'large' } }),
      event({ model: 'large', tokens: 5 }),
      { kind: 'amount', amount: 5 },
    ],
    [
      'a filter that does not match: skipped',
      meter({ filter: { model: 'large' } }),
      event({ model: 'small', tokens: 5 }),
      { kind: 'skip' },
    ],
    [
      'a filter on a missing property: skipped',
      meter({ filter: { model: 'large' } }),
      event({ tokens: 5 }),
      { kind: 'skip' },
    ],
  ])('%s', (_name, m, e, reading) => {
    expect(readMeter({ meter: m, event: e })).toEqual(reading);
  });

  it.each([
    ['a non-numeric sum', meter({}), event({ tokens: 'many' })],
    ['a missing sum property', meter({}), event({})],
    ['a negative sum', meter({}), event({ tokens: -1 })],
    ['an amount no counter can add exactly', meter({}), event({ tokens: 1e308 })],
    ['an infinite max', meter({ aggregation: 'max' }), event({ tokens: '1e999' })],
    ['a missing unique value', meter({ aggregation: 'unique_count', property: 'user' }), event({})],
  ])('refuses %s with a reason', (_name, m, e) => {
    const reading = readMeter({ meter: m, event: e });
    expect(reading.kind).toBe('invalid');
    expect(reading.kind === 'invalid' && reading.message).toMatch(/property "(tokens|user)"/);
  });
});
