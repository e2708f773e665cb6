import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { type ChildServer, type ServerScript, startServer } from './child-server.js';
import { checkRequest, customerId, keymasterApi, seedCatalog, seedCustomers } from './keymaster-api.js';
import { round } from './stats.js';

export interface CheckInstructionsResult {
  customers: number;
  /** Requests counted per server, after `warmupRequests` uncounted ones. */
  requests: number;
  warmupRequests: number;
  /** Instructions the server's main thread executed per request, user space only. */
  keymasterPerRequest: number;
  baselinePerRequest: number;
  /**
   * The same over all the process's threads: the garbage collector's helpers too (allocation
   * costs there), and the JIT's compiles that happen to fall in the counted window (noisier).
   */
  keymasterAllThreadsPerRequest: number;
  baselineAllThreadsPerRequest: number;
  /** Bare over Keymaster: the throughput ratio if instructions were all a request cost. */
  ratio: number;
}

/**
 * The HTTP check's CPU work counted, not timed: each server runs under valgrind's callgrind,
 * which counts the instructions a process executes — about the same count for the same work
 * whatever else the machine does (within 3 %: the server's timers run per second, not per
 * request). On a shared 2-core VM the throughput ratio moves by ±30 % from run to
 * run; this one does not, so it shows whether a change made a check cheaper. It counts user space
 * only (the kernel's share of reading and writing a socket is not in it) and is taken after a
 * warm-up, so that the JIT has compiled the hot path. Skipped when valgrind is not installed.
 */
export async function benchCheckInstructions(input: {
  customers: number;
  requests: number;
  warmupRequests: number;
  log: (line: string) => void;
}): Promise<CheckInstructionsResult | undefined> {
  const { log } = input;
  if (spawnSync('valgrind', ['--version']).status !== 0) {
    log('valgrind is not installed (apt-get install -y valgrind): instruction counts skipped');
    return undefined;
  }
  const adminKey = `km_sk_bench_${randomBytes(12).toString('hex')}`;
  const ids = Array.from({ length: input.customers }, (_, i) => customerId(i));
  const requests = ids.map(checkRequest);
  const headers = { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' };

  log('keymaster under callgrind: start, seed, warm up, count');
  let sample = '';
  const keymaster = await countPerRequest({
    script: 'keymaster-server',
    env: { KEYMASTER_ADMIN_KEY: adminKey, LOG_LEVEL: 'warn' },
    async prepare(server) {
      const api = keymasterApi({ url: server.url, adminKey });
      await seedCatalog(api);
      await seedCustomers({ api, ids, plan: 'pro', concurrency: 4 });
      sample = JSON.stringify(await api.call('POST', '/v1/check', { customer: ids[0], feature: 'api_calls' }));
    },
    requests,
    headers,
    counted: input.requests,
    warmup: input.warmupRequests,
  });
  log('bare node:http under callgrind');
  const baseline = await countPerRequest({
    script: 'bare-server',
    env: { BARE_BODY: sample },
    prepare: async () => undefined,
    requests,
    headers,
    counted: input.requests,
    warmup: input.warmupRequests,
  });
  return {
    customers: ids.length,
    requests: input.requests,
    warmupRequests: input.warmupRequests,
    keymasterPerRequest: Math.round(keymaster.mainThread),
    baselinePerRequest: Math.round(baseline.mainThread),
    ratio: round(baseline.mainThread / keymaster.mainThread),
    keymasterAllThreadsPerRequest: Math.round(keymaster.allThreads),
    baselineAllThreadsPerRequest: Math.round(baseline.allThreads),
  };
}

async function countPerRequest(input: {
  script: ServerScript;
  env: Record<string, string>;
  prepare: (server: ChildServer) => Promise<void>;
  requests: readonly { method: 'POST'; path: string; body: string }[];
  headers: Record<string, string>;
  counted: number;
  warmup: number;
}): Promise<{ mainThread: number; allThreads: number }> {
  let url = '';
  const run = async (amount: number, what: string) => {
    const result = await autocannon({
      url,
      connections: 10,
      pipelining: 10,
      headers: input.headers,
      requests: input.requests.map((r) => ({ ...r })),
      amount,
      timeout: 600,
    });
    if (result.non2xx + result.errors > 0) throw new Error(`${input.script}: ${what} requests failed`);
  };
  const threads = await countInstructions({
    script: input.script,
    env: input.env,
    async prepare(server) {
      url = server.url;
      await input.prepare(server);
    },
    warmUp: () => run(input.warmup, 'warm-up'),
    work: () => run(input.counted, 'counted'),
  });
  return { mainThread: threads.main / input.counted, allThreads: threads.all / input.counted };
}

/** Instructions counted per thread while `work` ran, after `warmUp` (not counted). */
export interface ThreadCounts {
  /** The main thread's (the event loop's). */
  main: number;
  /** The other threads', busiest first: workers of the server's own, when they do the work, then V8's helpers. */
  others: number[];
  all: number;
}

/**
 * Runs a server under valgrind's callgrind with counting off, prepares and warms it up, counts
 * what every thread executes while `work` runs, and answers the totals. User space only.
 */
export async function countInstructions(input: {
  script: ServerScript;
  env: Record<string, string>;
  prepare: (server: ChildServer) => Promise<void>;
  warmUp: () => Promise<unknown>;
  work: () => Promise<unknown>;
}): Promise<ThreadCounts> {
  const dir = mkdtempSync(join(tmpdir(), 'keymaster-callgrind-'));
  const server = await startServer({
    script: input.script,
    env: input.env,
    wrapper: {
      command: 'valgrind',
      args: [
        '--tool=callgrind',
        '--quiet',
        // One count per thread. The main thread's, where requests are handled, repeats within
        // 3 % (its timers run per second, not per request); the total over all threads adds the
        // GC's helpers and whatever JIT compiles fall in the window, and varied by a fifth
        // between runs. Both are reported.
        '--separate-threads=yes',
        // JIT-compiled code rewrites itself: valgrind must notice, or it runs stale translations.
        '--smc-check=all-non-file',
        // Nothing is counted until the warm-up is over (callgrind_control -i on).
        '--instr-atstart=no',
        `--callgrind-out-file=${join(dir, 'callgrind.out')}`,
      ],
    },
  });
  try {
    await input.prepare(server);
    await input.warmUp();
    execFileSync('callgrind_control', ['--instr=on', String(server.pid)], { stdio: 'ignore' });
    await input.work();
    execFileSync('callgrind_control', ['--instr=off', String(server.pid)], { stdio: 'ignore' });
  } finally {
    await server.stop();
  }
  try {
    // The dump at exit holds only what ran while instrumentation was on, a file per thread;
    // `-01` is the main thread. `totals:` closes each file (the `summary:` line near the top is
    // written before counting began).
    const totals = new Map<string, number>();
    for (const name of readdirSync(dir).filter((file) => file.startsWith('callgrind.out'))) {
      const total = /^totals: (\d+)/m.exec(readFileSync(join(dir, name), 'utf8'))?.[1];
      if (total !== undefined) totals.set(name, Number(total));
    }
    const main = [...totals].find(([name]) => name.endsWith('-01'))?.[1];
    if (main === undefined) throw new Error(`${input.script}: no instruction count in the callgrind output`);
    const others = [...totals].filter(([name]) => !name.endsWith('-01')).map(([, total]) => total);
    return {
      main,
      others: others.sort((a, b) => b - a),
      all: [...totals.values()].reduce((sum, value) => sum + value, 0),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
