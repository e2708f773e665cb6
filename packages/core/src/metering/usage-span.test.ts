import { describe, expect, it } from 'vitest';
import { buildCatalog } from '../catalog/catalog.js';
import type { Entitlement } from '../entitlements/entitlement.js';
import { buildEntitlement, buildFeature, testNow, utc } from '../test-builders.js';
import { usageSpan } from './usage-span.js';

const catalog = buildCatalog({
  features: [
    buildFeature({
      key: 'api_calls',
      type: 'metered',
      meter: { eventType: 'call', aggregation: 'max', property: 'n', filter: null },
    }),
    buildFeature({ key: 'seats', type: 'gauge' }),
    buildFeature({ key: 'sso' }),
  ],
  planVersions: [],
});

describe('usageSpan: the counters an entitlement’s usage is read from', () => {
  const cases: { name: string; entitlement: Entitlement; expected: Record<string, unknown> | null }[] = [
    {
      name: 'a calendar period: its one counter, with the meter’s aggregation',
      entitlement: buildEntitlement({ reset: 'month' }),
      expected: {
        key: `api_calls\u0000p${utc('2026-06-01T00:00:00Z')}`,
        aggregation: 'max',
        from: utc('2026-06-01T00:00:00Z'),
        to: utc('2026-06-01T00:00:00Z'),
      },
    },
    {
      name: 'usage that never resets: counter 0',
      entitlement: buildEntitlement({ reset: null }),
      expected: { key: 'api_calls\u0000p0', from: 0, to: 0 },
    },
    {
      name: 'a rolling hour: the one-minute buckets any of which is inside the window',
      entitlement: buildEntitlement({ reset: null, window: '1h' }),
      expected: {
        key: `api_calls\u0000w${testNow}`,
        from: testNow - 59 * 60_000,
        to: testNow,
      },
    },
    {
      name: 'a gauge: its one level, summed, whether or not it is entitled',
      entitlement: buildEntitlement({ feature: 'seats', type: 'gauge', enabled: false, denial: 'no_entitlement' }),
      expected: { key: 'seats\u0000g', aggregation: 'sum', from: 0, to: 0 },
    },
    {
      name: 'a denied metered feature: nothing counted',
      entitlement: buildEntitlement({ enabled: false, denial: 'no_entitlement' }),
      expected: null,
    },
    {
      name: 'a boolean: nothing counted',
      entitlement: buildEntitlement({ feature: 'sso', type: 'boolean', limit: null, reset: null }),
      expected: null,
    },
  ];
  for (const { name, entitlement, expected } of cases) {
    it(name, () => {
      const span = usageSpan({ catalog, entitlement, now: testNow });
      if (expected === null) expect(span).toBeNull();
      else expect(span).toMatchObject({ feature: entitlement.feature, ...expected });
    });
  }

  it('hands back the same span for the same entitlement until its counters move on', () => {
    const entitlement = buildEntitlement({ reset: null, window: '1h' });
    const first = usageSpan({ catalog, entitlement, now: testNow });
    expect(usageSpan({ catalog, entitlement, now: testNow + 59_999 })).toBe(first);
    const next = usageSpan({ catalog, entitlement, now: testNow + 60_000 });
    expect(next).not.toBe(first);
    expect(next?.to).toBe(testNow + 60_000);
  });
});
