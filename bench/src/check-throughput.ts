import { randomBytes } from 'node:crypto';
import { startServer } from './child-server.js';
import { type LoadResult, type LoadSettings, runLoad } from './http-load.js';
import { checkRequest, customerId, keymasterApi, seedCatalog, seedCustomers } from './keymaster-api.js';
import { round } from './stats.js';

export interface CheckThroughputResult {
  customers: number;
  responseBytes: number;
  keymaster: LoadResult;
  baseline: LoadResult;
  /** Keymaster's requests per second over the bare server's. */
  ratio: number;
}

/**
 * `POST /v1/check` on a warm cache against a bare node:http server answering the same JSON body,
 * both driven by the same load generator with the same settings and the same request bytes.
 */
export async function benchCheckThroughput(input: {
  settings: LoadSettings;
  customers: number;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<CheckThroughputResult> {
  const { settings, log } = input;
  const adminKey = `km_sk_bench_${randomBytes(12).toString('hex')}`;
  const ids = Array.from({ length: input.customers }, (_, i) => customerId(i));
  const requests = ids.map(checkRequest);

  const keymaster = await startServer({
    script: 'keymaster-server',
    env: { KEYMASTER_ADMIN_KEY: adminKey, LOG_LEVEL: 'warn' },
    execArgv: input.serverExecArgv,
  });
  let sample: string;
  let keymasterResult: LoadResult;
  try {
    const api = keymasterApi({ url: keymaster.url, adminKey });
    log(`seeding ${ids.length} customers through the API`);
    await seedCatalog(api);
    await seedCustomers({ api, ids, plan: 'pro', concurrency: 8 });
    // Warm the cache: every customer checked once, and a real answer kept for the baseline.
    for (const request of requests) await api.call('POST', request.path, JSON.parse(request.body));
    const answer = await api.call<{ allowed: boolean }>('POST', '/v1/check', {
      customer: ids[0],
      feature: 'api_calls',
    });
    if (!answer.allowed) throw new Error(`the benchmark check is not allowed: ${JSON.stringify(answer)}`);
    sample = JSON.stringify(answer);
    log(`keymaster: ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s`);
    keymasterResult = await runLoad({
      url: keymaster.url,
      requests,
      headers: api.headers,
      settings,
      serverCpuMicros: keymaster.cpuMicros,
    });
  } finally {
    await keymaster.stop();
  }

  const bare = await startServer({ script: 'bare-server', env: { BARE_BODY: sample }, execArgv: input.serverExecArgv });
  let baselineResult: LoadResult;
  try {
    log(`bare node:http: ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s`);
    baselineResult = await runLoad({
      url: bare.url,
      requests,
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      settings,
      serverCpuMicros: bare.cpuMicros,
    });
  } finally {
    await bare.stop();
  }

  return {
    customers: ids.length,
    responseBytes: Buffer.byteLength(sample),
    keymaster: keymasterResult,
    baseline: baselineResult,
    ratio: round(keymasterResult.requestsPerSecond / baselineResult.requestsPerSecond),
  };
}
