import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeymaster } from '@keymaster/sdk';
import { startServer } from './child-server.js';
import { customerId } from './keymaster-api.js';
import { startSeededKeymaster } from './seeded-server.js';
import { mean, percentile, round } from './stats.js';

export interface PropagationResult {
  changes: number;
  customers: number;
  /** Of `changes`, how many the SDK never reflected within the timeout (counted at the timeout). */
  missed: number;
  timeoutMs: number;
  /** Server B's change-feed poll interval (its configuration's default). */
  feedPollMs: number;
  /** From sending the write to server A until the SDK's cached decision reflects it. */
  fromWriteMs: { p50: number; p99: number; max: number; mean: number };
  /** From server A's answer (the write is committed) until the SDK's cached decision reflects it. */
  fromAckMs: { p50: number; p99: number; max: number; mean: number };
  /** Server A's answer time for the writes themselves. */
  writeMs: { p50: number; p99: number };
  byKind: { kind: 'grant' | 'plan change'; changes: number; fromWriteP50Ms: number; fromWriteP99Ms: number }[];
}

interface Sample {
  kind: 'grant' | 'plan change';
  fromWrite: number;
  fromAck: number;
  write: number;
}

/** A small deterministic generator (mulberry32), so every run spaces its changes alike. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const summary = (values: number[]) => ({
  p50: round(percentile(values, 50)),
  p99: round(percentile(values, 99)),
  max: round(Math.max(...values)),
  mean: round(mean(values)),
});

/**
 * How long a change made through one server takes to reach an SDK streaming from another.
 * Two Keymaster processes share one PostgreSQL schema: A takes the writes, B serves
 * `GET /v1/stream` to an `@keymaster/sdk` client (in this process) that has every customer
 * cached. Changes alternate between a grant (an `exports` limit override, distinct each time)
 * and a plan change (pro → business, which enables `audit_log`), one at a time, each on its own
 * customer's state; the next starts once the last was seen, after a pseudo-random pause of
 * 0–`maxPauseMs` ms so that writes fall at every phase of B's change-feed poll.
 */
export async function benchPropagation(input: {
  postgresUrl: string;
  changes: number;
  timeoutMs: number;
  maxPauseMs: number;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<PropagationResult> {
  const customers = Math.ceil(input.changes / 2);
  const a = await startSeededKeymaster({
    target: { database: 'postgres', url: input.postgresUrl },
    customers: 0,
    serverExecArgv: input.serverExecArgv,
    log: input.log,
  });
  let b: Awaited<ReturnType<typeof startServer>> | undefined;
  let km: ReturnType<typeof createKeymaster> | undefined;
  try {
    const { api } = a;
    const ids = Array.from({ length: customers }, (_, i) => customerId(i));
    const subscriptions = new Map<string, string>();
    input.log(`seeding ${customers} customers on pro through server A`);
    for (const id of ids) {
      await api.call('PUT', `/v1/customers/${id}`, { name: `Customer ${id}` });
      const created = await api.call<{ id: string }>('POST', `/v1/customers/${id}/subscriptions`, { plan: 'pro' });
      subscriptions.set(id, created.id);
    }
    const schema = await a.server.command<string>('schema');
    const adminKey = api.headers.authorization!.replace(/^Bearer /, '');
    b = await startServer({
      script: 'keymaster-server',
      env: {
        KEYMASTER_ADMIN_KEY: adminKey,
        LOG_LEVEL: 'warn',
        BENCH_SERVER_DATABASE_URL: input.postgresUrl,
        BENCH_SERVER_SCHEMA: schema,
      },
      execArgv: input.serverExecArgv,
    });
    const { feedPollMs } = await b.command<{ feedPollMs: number }>('config');
    // Same catalog on both: B reads what A wrote. The SDK talks to B only.
    const client = createKeymaster({ baseUrl: b.url, apiKey: adminKey, pollIntervalMs: 3_600_000 });
    km = client;
    for (const id of ids) await client.load(id);
    const live = Date.now() + 10_000;
    while (client.status().mode !== 'live') {
      if (Date.now() > live) throw new Error('the SDK did not go live on server B within 10 s');
      await sleep(10);
    }
    for (const id of ids) {
      const d = client.check(id, 'audit_log');
      if (d.source !== 'cache' || d.allowed) throw new Error(`${id} is not cached on pro: ${JSON.stringify(d)}`);
    }

    let waiting: { reflected: () => boolean; resolve: () => void } | undefined;
    const unsubscribe = client.onChange(() => {
      if (waiting?.reflected()) waiting.resolve();
    });
    const pause = random(5);
    const samples: Sample[] = [];
    let missed = 0;
    input.log(`${input.changes} changes through server A, SDK streaming from server B`);
    for (let i = 0; i < input.changes; i++) {
      const id = ids[Math.floor(i / 2)]!;
      const kind = i % 2 === 0 ? 'grant' : 'plan change';
      const limit = 5_000 + i;
      const reflected =
        kind === 'grant'
          ? () => client.check(id, 'exports').limit === limit
          : () => client.check(id, 'audit_log').allowed;
      let seenAt = 0;
      const seen = new Promise<void>((resolve) => {
        waiting = {
          reflected,
          resolve: () => {
            seenAt = performance.now();
            resolve();
          },
        };
      });
      const start = performance.now();
      if (kind === 'grant') {
        await api.call('POST', `/v1/customers/${id}/grants`, {
          feature: 'exports',
          limit,
          reason: 'propagation bench',
        });
      } else {
        await api.call('POST', `/v1/subscriptions/${subscriptions.get(id)}/change`, { plan: 'business', when: 'now' });
      }
      const ack = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        seen.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), input.timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      waiting = undefined;
      if (timedOut) {
        missed++;
        seenAt = ack + input.timeoutMs;
      }
      samples.push({ kind, fromWrite: seenAt - start, fromAck: seenAt - ack, write: ack - start });
      await sleep(Math.floor(pause() * input.maxPauseMs));
    }
    unsubscribe();
    const fromWrite = samples.map((s) => s.fromWrite);
    const writes = samples.map((s) => s.write);
    const kinds = ['grant', 'plan change'] as const;
    return {
      changes: input.changes,
      customers,
      missed,
      timeoutMs: input.timeoutMs,
      feedPollMs,
      fromWriteMs: summary(fromWrite),
      fromAckMs: summary(samples.map((s) => s.fromAck)),
      writeMs: { p50: round(percentile(writes, 50)), p99: round(percentile(writes, 99)) },
      byKind: kinds.map((kind) => {
        const of = samples.filter((s) => s.kind === kind).map((s) => s.fromWrite);
        return {
          kind,
          changes: of.length,
          fromWriteP50Ms: round(percentile(of, 50)),
          fromWriteP99Ms: round(percentile(of, 99)),
        };
      }),
    };
  } finally {
    await km?.close();
    await b?.stop();
    await a.server.stop();
  }
}
