import { describe, expect, it } from 'vitest';
import type { MeterAggregation } from '../catalog/feature.js';
import { type HistoryRow, historyBuckets, historyHour, historyRange, hourMs } from './history.js';

const t = (iso: string) => Date.parse(iso);
const day = t('2026-06-15T00:00:00.000Z');
const hour = (n: number) => day + n * hourMs;
const row = (n: number, value: number, latestAt: number | null = null): HistoryRow => ({
  hour: hour(n),
  value,
  latestAt,
});

describe('historyHour', () => {
  it.each([
    ['2026-06-15T10:00:00.000Z', '2026-06-15T10:00:00.000Z'],
    ['2026-06-15T10:59:59.999Z', '2026-06-15T10:00:00.000Z'],
    ['2026-06-15T11:00:00.000Z', '2026-06-15T11:00:00.000Z'],
  ])('%s is kept in the hour starting %s', (at, start) => {
    expect(historyHour(t(at))).toBe(t(start));
  });
});

describe('historyRange', () => {
  const blame = { order: '/to', size: '/from' };
  it('widens a range to whole buckets', () => {
    expect(
      historyRange({ from: t('2026-06-15T10:37:00Z'), to: t('2026-06-15T12:01:00Z'), granularity: 'hour', blame }),
    ).toEqual({ from: t('2026-06-15T10:00:00Z'), to: t('2026-06-15T13:00:00Z') });
    expect(
      historyRange({ from: t('2026-06-15T10:37:00Z'), to: t('2026-06-16T00:00:00Z'), granularity: 'day', blame }),
    ).toEqual({ from: t('2026-06-15T00:00:00Z'), to: t('2026-06-16T00:00:00Z') });
  });
  it.each([
    ['to equal to from', hour(3), hour(3), 'hour', '/to'],
    ['to before from', hour(3), hour(2), 'day', '/to'],
    ['1,001 hours', hour(0), hour(1001), 'hour', '/from'],
    ['401 days', hour(0), hour(401 * 24), 'day', '/from'],
  ] as const)('refuses %s, naming the field', (_name, from, to, granularity, path) => {
    const result = historyRange({ from, to, granularity, blame });
    expect('errors' in result && result.errors.map((e) => e.path)).toEqual([path]);
  });
  it('takes exactly the most buckets allowed', () => {
    expect(historyRange({ from: hour(0), to: hour(1000), granularity: 'hour', blame })).toEqual({
      from: hour(0),
      to: hour(1000),
    });
    expect('from' in historyRange({ from: hour(0), to: hour(400 * 24), granularity: 'day', blame })).toBe(true);
  });
});

describe('historyBuckets', () => {
  const rows = [row(1, 4, hour(1) + 10), row(1, 2, hour(1) + 50), row(3, 5, hour(3) + 5), row(26, 7, hour(26) + 1)];
  it.each<[MeterAggregation, number[], number]>([
    ['count', [0, 6, 0, 5], 11],
    ['sum', [0, 6, 0, 5], 11],
    ['unique_count', [0, 6, 0, 5], 11],
    ['max', [0, 4, 0, 5], 5],
    ['latest', [0, 2, 0, 5], 5],
  ])('%s: hourly buckets, zero-filled, and the total', (aggregation, usage, total) => {
    const result = historyBuckets({ rows, aggregation, granularity: 'hour', from: hour(0), to: hour(4) });
    expect(result.buckets.map((b) => b.usage)).toEqual(usage);
    expect(result.buckets[1]).toEqual({ start: hour(1), end: hour(2), usage: usage[1] });
    expect(result.total).toBe(total);
  });
  it.each<[MeterAggregation, number[], number]>([
    ['sum', [11, 7], 18],
    ['max', [5, 7], 7],
    ['latest', [5, 7], 7],
  ])('%s: days combine their hours', (aggregation, usage, total) => {
    const result = historyBuckets({ rows, aggregation, granularity: 'day', from: hour(0), to: hour(48) });
    expect(result.buckets).toEqual([
      { start: hour(0), end: hour(24), usage: usage[0] },
      { start: hour(24), end: hour(48), usage: usage[1] },
    ]);
    expect(result.total).toBe(total);
  });
  it('latest: the last observation wins, not the last hour', () => {
    const late = [row(5, 9, hour(5) + 1), row(2, 3, hour(5) + 2)];
    expect(
      historyBuckets({ rows: late, aggregation: 'latest', granularity: 'day', from: hour(0), to: hour(24) }).total,
    ).toBe(3);
  });
  it('max: negative readings are kept, an empty bucket is 0', () => {
    const result = historyBuckets({
      rows: [row(0, -3), row(0, -5)],
      aggregation: 'max',
      granularity: 'hour',
      from: hour(0),
      to: hour(2),
    });
    expect(result.buckets.map((b) => b.usage)).toEqual([-3, 0]);
    expect(result.total).toBe(-3);
  });
  it('leaves out rows outside the range', () => {
    const result = historyBuckets({ rows, aggregation: 'sum', granularity: 'hour', from: hour(2), to: hour(4) });
    expect(result.total).toBe(5);
  });
});
