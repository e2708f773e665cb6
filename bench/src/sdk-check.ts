import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createKeymaster } from '@keymaster/sdk';
import { percentile, round } from './stats.js';

export interface SdkCheckResult {
  customers: number;
  calls: number;
  nsPerCall: number;
  /** Percentiles of the per-call time of batches (a single call is too short to time alone). */
  batchP50Ns: number;
  batchP99Ns: number;
  /** Heap growth from caching the customers, divided by their number (after full GCs). */
  bytesPerCustomer: number;
  checksum: { allowed: number; denied: number };
}

const computedAt = '2026-06-15T12:00:00.000Z';
const benchNow = Date.parse(computedAt);

/** A snapshot like the server's for the bench catalog's pro plan: six features. */
function snapshot(customer: string, usage: number) {
  const base = {
    unlimited: false,
    reset: null,
    window: null,
    resets_at: null,
    value: null,
    source: 'plan',
    overage: null,
  };
  return {
    customer,
    plan: { key: 'pro', version: 1 },
    subscription_status: 'active',
    computed_at: computedAt,
    valid_until: null,
    entitlements: [
      {
        ...base,
        feature: 'api_calls',
        type: 'metered',
        enabled: true,
        reason: 'entitled',
        limit: 100_000,
        usage,
        balance: 100_000 - usage,
        overage: 'block',
        reset: 'month',
        resets_at: '2026-07-01T00:00:00.000Z',
      },
      {
        ...base,
        feature: 'exports',
        type: 'metered',
        enabled: true,
        reason: 'entitled',
        limit: 1000,
        usage: 0,
        balance: 1000,
        overage: 'block',
        reset: 'month',
        resets_at: '2026-07-01T00:00:00.000Z',
      },
      {
        ...base,
        feature: 'seats',
        type: 'gauge',
        enabled: true,
        reason: 'entitled',
        limit: 20,
        usage: 3,
        balance: 17,
        overage: 'block',
      },
      {
        ...base,
        feature: 'sso',
        type: 'boolean',
        enabled: true,
        reason: 'entitled',
        limit: null,
        usage: null,
        balance: null,
      },
      {
        ...base,
        feature: 'audit_log',
        type: 'boolean',
        enabled: false,
        reason: 'no_entitlement',
        limit: null,
        usage: null,
        balance: null,
        source: null,
      },
      {
        ...base,
        feature: 'support_tier',
        type: 'config',
        enabled: true,
        reason: 'entitled',
        limit: null,
        usage: null,
        balance: null,
        value: 'priority',
      },
    ],
  };
}

function gc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * `check` on an SDK holding `customers` snapshots, served by an in-process fetch (no server:
 * this measures the local decision only). Rotates over customers, features and quantities.
 */
export async function runSdkCheckBench(input: {
  customers: number;
  calls: number;
  batches: number;
}): Promise<SdkCheckResult> {
  const collect = gc();
  const ids = Array.from({ length: input.customers }, (_, i) => `cus_${i}`);
  const fetchSnapshot = async (url: string | URL | Request) => {
    const id = decodeURIComponent(String(url).split('/customers/')[1]!.split('/')[0]!);
    return new Response(JSON.stringify(snapshot(id, Number(id.slice(4)) % 100_000)), { status: 200 });
  };
  const km = createKeymaster({
    baseUrl: 'http://bench.invalid',
    apiKey: 'km_sk_bench',
    cacheSize: input.customers,
    stream: false,
    pollIntervalMs: 3_600_000,
    fetch: fetchSnapshot as typeof fetch,
    clock: { now: () => benchNow },
  });
  collect();
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < ids.length; i += 500) await Promise.all(ids.slice(i, i + 500).map((id) => km.load(id)));
  collect();
  const bytesPerCustomer = (process.memoryUsage().heapUsed - heapBefore) / input.customers;

  const features = ['api_calls', 'exports', 'seats', 'sso', 'audit_log', 'support_tier'];
  const quantities = [1, 10, 50_000, 100_000];
  const checksum = { allowed: 0, denied: 0 };
  const perBatch = Math.floor(input.calls / input.batches);
  const samples: number[] = [];
  let n = 0;
  const run = (calls: number) => {
    for (let i = 0; i < calls; i++, n++) {
      const d = km.check(ids[n % ids.length]!, features[n % 6]!, quantities[n & 3]!);
      if (d.allowed) checksum.allowed++;
      else checksum.denied++;
    }
  };
  run(Math.min(input.calls, 200_000));
  let total = 0;
  for (let b = 0; b < input.batches; b++) {
    const start = process.hrtime.bigint();
    run(perBatch);
    const ns = Number(process.hrtime.bigint() - start);
    total += ns;
    samples.push(ns / perBatch);
  }
  await km.close();
  return {
    customers: input.customers,
    calls: perBatch * input.batches,
    nsPerCall: round(total / (perBatch * input.batches)),
    batchP50Ns: round(percentile(samples, 50)),
    batchP99Ns: round(percentile(samples, 99)),
    bytesPerCustomer: Math.round(bytesPerCustomer),
    checksum,
  };
}
