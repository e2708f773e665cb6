import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeymaster, loadConfig, systemClock } from '@keymaster/server';
import { round } from './stats.js';

export interface WebhookDeliveryResult {
  events: number;
  endpoints: number;
  deliveries: number;
  seconds: number;
  /** Deliveries answered 2xx and recorded, per second, from the first event to the last record. */
  perSecond: number;
}

/** The floor for delivery throughput to a local receiver. */
export const webhookTarget = 1_000;

/**
 * Outbound webhook delivery throughput on SQLite: `events` outbox rows written at once, fanned out
 * to `endpoints` endpoints on a local receiver (in this process, so the figure is a floor: the
 * receiver takes CPU the worker could use), each delivery signed and POSTed and its attempt
 * recorded. Timed until every delivery is recorded as succeeded.
 */
export async function benchWebhookDelivery(input: {
  events: number;
  endpoints: number;
  log: (line: string) => void;
}): Promise<WebhookDeliveryResult> {
  const receiver = await startWebhookReceiver();
  const { url } = receiver;
  const dir = mkdtempSync(join(tmpdir(), 'keymaster-bench-webhooks-'));
  const config = loadConfig({
    KEYMASTER_DATA_DIR: dir,
    KEYMASTER_ADMIN_KEY: 'km_sk_bench_admin_key_0123456789',
    KEYMASTER_WEBHOOK_ALLOW_PRIVATE: 'true',
    KEYMASTER_WEBHOOK_POLL_MS: '20',
    KEYMASTER_WEBHOOK_CONCURRENCY: process.env.BENCH_WEBHOOK_CONCURRENCY ?? '64',
  });
  const keymaster = await createKeymaster({ config, clock: systemClock, logger: false });
  try {
    for (let i = 0; i < input.endpoints; i++) await keymaster.services.webhooks.create({ url });
    const { db } = keymaster.database;
    const now = Date.now();
    const started = performance.now();
    for (let i = 0; i < input.events; i += 1000) {
      const rows = Array.from({ length: Math.min(1000, input.events - i) }, (_, j) => ({
        id: `dev_bench_${i + j}`,
        type: 'subscription.updated',
        customer_id: `cus_${(i + j) % 1000}`,
        subscription_id: null,
        occurred_at: now,
        data: JSON.stringify({ subscription: { id: `sub_${i + j}`, plan: 'pro' } }),
        created_at: now,
        delivered_at: null,
      }));
      await db.insertInto('domain_events').values(rows).execute();
    }
    const deliveries = input.events * input.endpoints;
    input.log(`${input.events} events to ${input.endpoints} endpoints: ${deliveries} deliveries`);
    for (;;) {
      const row = await db
        .selectFrom('webhook_deliveries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('status', '=', 'succeeded')
        .executeTakeFirstOrThrow();
      if (Number(row.n) >= deliveries) break;
      if (performance.now() - started > 300_000)
        throw new Error(`only ${row.n} of ${deliveries} delivered in 5 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const seconds = (performance.now() - started) / 1000;
    if (receiver.received() < deliveries) throw new Error(`the receiver got ${receiver.received()} of ${deliveries}`);
    return {
      events: input.events,
      endpoints: input.endpoints,
      deliveries,
      seconds: round(seconds),
      perSecond: Math.round(deliveries / seconds),
    };
  } finally {
    await keymaster.close();
    await receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A webhook receiver on loopback that answers every POST 200 at once and counts them. */
export async function startWebhookReceiver(): Promise<{
  url: string;
  received: () => number;
  close: () => Promise<void>;
}> {
  let received = 0;
  const receiver = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received++;
      response.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
    received: () => received,
    close: () => new Promise<void>((resolve) => receiver.close(() => resolve())),
  };
}
