import { describe, expect, it } from 'vitest';
import { runDecideBench } from './decide-bench.js';
import { percentile } from './stats.js';

// Timing thresholds would fail on a busy CI machine; these only check that the harness measures
// what it says it does and reports numbers that make sense.
describe('runDecideBench', () => {
  const result = runDecideBench({ calls: 2_000, resolveCalls: 200, batches: 10, warmupCalls: 100 });

  it('measures the three cases with every call counted', () => {
    expect(result.cases.map((c) => c.name)).toEqual([
      'decide: metered, allowed',
      'decide: metered, denied at limit',
      'resolve: one customer (6 features)',
    ]);
    expect(result.cases.map((c) => c.calls)).toEqual([2_000, 2_000, 200]);
    expect(result).toMatchObject({ features: 6, plans: 3 });
  });

  it('gets the answers right: allowed under the limit, denied at it', () => {
    // Timed calls only: every allowed decide and every resolve (api_calls is on both plans).
    expect(result.checksum).toEqual({ allowed: 2_000 + 200, denied: 2_000 });
  });

  it('reports finite, positive, ordered timings', () => {
    for (const c of result.cases) {
      expect(c.nsPerCall).toBeGreaterThan(0);
      expect(Number.isFinite(c.nsPerCall)).toBe(true);
      expect(c.batchP50Ns).toBeGreaterThan(0);
      expect(c.batchP99Ns).toBeGreaterThanOrEqual(c.batchP50Ns);
    }
  });
});

describe('percentile', () => {
  it('uses the nearest rank', () => {
    const samples = [5, 1, 4, 2, 3];
    expect(percentile(samples, 50)).toBe(3);
    expect(percentile(samples, 99)).toBe(5);
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile([], 50)).toBeNaN();
  });
});
