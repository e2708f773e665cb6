import { randomBytes } from 'node:crypto';
import { startServer } from './child-server.js';
import { type LoadResult, type LoadSettings, runLoad } from './http-load.js';
import { checkRequest, customerId, keymasterApi, seedCatalog, seedCustomers } from './keymaster-api.js';
import { type LatencyResult, probeLatency } from './latency-probe.js';
import { round } from './stats.js';

export interface ScalePoint {
  storedCustomers: number;
  seedSeconds: number;
  /** Customers checked under load, spread evenly over everyone stored, all cached. */
  checkedCustomers: number;
  cachedCustomers: number;
  load: LoadResult;
  /** One request at a time on one connection, cached customers. */
  warm: LatencyResult;
  /** First check of customers not yet cached: each one loads from SQLite. */
  cold: LatencyResult;
}

export interface CustomerScaleResult {
  small: ScalePoint;
  large: ScalePoint;
  /** large over small: 1 means no change with the number of customers stored. */
  throughputRatio: number;
  warmP50Ratio: number;
  warmP99Ratio: number;
  coldP50Ratio: number;
}

/**
 * Whether checks slow down as customers accumulate: the same load on a server storing `small`
 * customers and on a fresh one storing `large`. Customers are copied into the database directly
 * (see clone-customers.ts); every check goes through HTTP.
 */
export async function benchCustomerScale(input: {
  settings: LoadSettings;
  small: number;
  large: number;
  checked: number;
  coldProbes: number;
  latencySeconds: number;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<CustomerScaleResult> {
  const small = await measurePoint({ ...input, stored: input.small });
  const large = await measurePoint({ ...input, stored: input.large });
  return {
    small,
    large,
    throughputRatio: round(large.load.requestsPerSecond / small.load.requestsPerSecond),
    warmP50Ratio: round(large.warm.p50Us / small.warm.p50Us),
    warmP99Ratio: round(large.warm.p99Us / small.warm.p99Us),
    coldP50Ratio: round(large.cold.p50Us / small.cold.p50Us),
  };
}

async function measurePoint(input: {
  settings: LoadSettings;
  stored: number;
  checked: number;
  coldProbes: number;
  latencySeconds: number;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<ScalePoint> {
  const { stored, log } = input;
  const stride = Math.floor(stored / input.checked);
  if (stride < 2) throw new Error(`need at least twice as many customers stored (${stored}) as checked`);
  // Hot customers every `stride`, cold ones halfway between: the two sets never meet.
  const hot = Array.from({ length: input.checked }, (_, k) => customerId(k * stride));
  const cold = Array.from({ length: Math.min(input.coldProbes, input.checked) }, (_, k) =>
    customerId(Math.floor((k * input.checked) / input.coldProbes) * stride + Math.floor(stride / 2)),
  );

  const adminKey = `km_sk_bench_${randomBytes(12).toString('hex')}`;
  const server = await startServer({
    script: 'keymaster-server',
    env: { KEYMASTER_ADMIN_KEY: adminKey, LOG_LEVEL: 'warn' },
    execArgv: input.serverExecArgv,
  });
  try {
    const api = keymasterApi({ url: server.url, adminKey });
    log(`${stored.toLocaleString('en')} customers: seeding`);
    const seedStarted = performance.now();
    await seedCatalog(api);
    const template = customerId(0);
    await seedCustomers({ api, ids: [template], plan: 'pro', concurrency: 1 });
    await server.command('clone-customers', { template, from: 1, to: stored });
    // A write through the API catches the server up with the change feed before it answers,
    // so the feed's backlog from the bulk insert is not processed during the measurements.
    await api.call('PUT', `/v1/customers/${template}`, { name: 'Template' });
    const seedSeconds = round((performance.now() - seedStarted) / 1000);

    const coldRequests = cold.map(checkRequest);
    const hotRequests = hot.map(checkRequest);
    await api.call('POST', '/v1/check', { customer: template, feature: 'api_calls' }); // loads the catalog
    const coldLatency = await probeLatency({ url: server.url, requests: coldRequests, headers: api.headers });
    await probeLatency({ url: server.url, requests: hotRequests, headers: api.headers });
    log(`${stored.toLocaleString('en')} customers: load`);
    const load = await runLoad({
      url: server.url,
      requests: hotRequests,
      headers: api.headers,
      settings: input.settings,
      serverCpuMicros: server.cpuMicros,
    });
    const warm = await probeLatency({
      url: server.url,
      requests: hotRequests,
      headers: api.headers,
      durationSeconds: input.latencySeconds,
    });
    return {
      storedCustomers: stored,
      seedSeconds,
      checkedCustomers: hot.length,
      cachedCustomers: await server.command<number>('cached-customers'),
      load,
      warm,
      cold: coldLatency,
    };
  } finally {
    await server.stop();
  }
}
