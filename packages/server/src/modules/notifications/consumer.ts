import { NoticeEventTypes, noticeFor } from '@keymaster/core';
import type { Insertable } from 'kysely';
import type { Clock } from '../../clock.js';
import type { Db, Dialect } from '../../db/database.js';
import type { NotificationTable } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { createOutboxConsumer, holeWaitMs, type OutboxEvent } from '../outbox/consumer.js';
import { emitDomainEvents } from '../outbox/emit.js';
import { toApiNotification } from './convert.js';
import { type EmailComposer, type MadeNotification, queueEmails } from './email-queue.js';
import { insertNotifications } from './store.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/** This consumer's row in `outbox_consumers`. */
export const notificationsConsumer = 'notifications';

const noticeTypes: ReadonlySet<string> = new Set(NoticeEventTypes);

/**
 * Turns outbox events that concern a customer into their in-app notifications, on every node
 * (one at a time holds the cursor; see `createOutboxConsumer`), each event at most once.
 *
 * How every node's streams hear of a notification: in the transaction that inserts it, the
 * consumer also appends a `notification` change for the customer to the change feed (`changes`).
 * Every node follows that feed already, so its streams push the `notification` event within a
 * poll interval, whichever node made it — and a stream resuming with `Last-Event-ID` replays it
 * like any other change. No node has to poll the notifications table, and a notification is
 * announced exactly when it committed.
 *
 * With `email` (email is configured), the same transaction queues an email for each new
 * notification whose customer has an address, at most one per customer, notice type and period
 * (see `queueEmails`); the email sender sends them.
 */
export function createNotificationConsumer(deps: {
  db: Db;
  dialect: Dialect;
  clock: Clock;
  logger: Logger;
  pollMs: number;
  email?: EmailComposer | undefined;
}) {
  const { db, email } = deps;
  const consumer = createOutboxConsumer({
    db,
    dialect: deps.dialect,
    clock: deps.clock,
    name: notificationsConsumer,
    take: ({ tx, events, now }) => notify({ tx, events, now, email }),
  });
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  function run(): Promise<unknown> {
    running ??= consumer.run().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    /** Makes the notifications of every event visible now: for tests and the test clock. */
    async runDue(): Promise<void> {
      // A run already in flight may have read before the caller's events committed.
      await running;
      await run();
      // A hole in the outbox (a transaction still open, or rolled back) stops a run short: wait
      // for it as the consumer does, so that every event of now has been taken on return.
      let state = await consumer.behind();
      const deadline = performance.now() + 2 * holeWaitMs;
      while (state.behind && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await run();
        state = await consumer.behind(state.target);
      }
    },

    start(): void {
      timer = setInterval(() => {
        run().catch((error: unknown) => deps.logger.warn({ err: error }, 'making notifications failed'));
      }, deps.pollMs);
      timer.unref();
    },

    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}

export type NotificationConsumer = ReturnType<typeof createNotificationConsumer>;

async function notify(input: {
  tx: Db;
  events: OutboxEvent[];
  now: number;
  email: EmailComposer | undefined;
}): Promise<void> {
  const { tx, now } = input;
  const events = input.events.filter((event) => noticeTypes.has(event.type));
  if (events.length === 0) return;
  const parsed = events.map((event) => ({ event, data: JSON.parse(event.data) as Record<string, unknown> }));
  const names = await catalogNames(tx, parsed);
  const made: MadeNotification[] = [];
  for (const { event, data } of parsed) {
    const notice = noticeFor({
      type: event.type,
      data,
      featureName: (key) => names.features.get(key) ?? key,
      planName: (key) => names.plans.get(key) ?? key,
    });
    if (!notice) continue;
    const row = {
      id: newId('ntf'),
      customer_id: event.customer_id,
      event_id: event.id,
      type: event.type,
      title: notice.title,
      body: notice.body,
      data: event.data,
      created_at: now,
      read_at: null,
    } satisfies Insertable<NotificationTable>;
    made.push({ row, data, occurredAt: Number(event.occurred_at) });
  }
  // Only what was new is announced (and emailed): an event read again (a cursor moved back) made nothing.
  const inserted = await insertNotifications(
    tx,
    made.map((m) => m.row),
  );
  const fresh = made.filter((m) => inserted.has(m.row.id));
  if (fresh.length === 0) return;
  const customers = [...new Set(fresh.map((m) => m.row.customer_id))];
  await tx
    .insertInto('changes')
    .values(customers.map((customer) => ({ scope: 'notification', customer_id: customer })))
    .execute();
  // Other systems hear of each notification too (webhook type `notification.created`).
  await emitDomainEvents(
    tx,
    fresh.map((m) => ({
      type: 'notification.created',
      customerId: m.row.customer_id,
      occurredAt: now,
      data: toApiNotification({ ...m.row, read_at: null }),
    })),
    now,
  );
  if (input.email) await queueEmails({ tx, made: fresh, composer: input.email, now });
}

/** The catalog's names for the features and plans the events name, to word the notices. */
async function catalogNames(
  tx: Db,
  parsed: { data: Record<string, unknown> }[],
): Promise<{ features: Map<string, string>; plans: Map<string, string> }> {
  const featureKeys = new Set<string>();
  const planKeys = new Set<string>();
  for (const { data } of parsed) {
    if (typeof data.feature === 'string') featureKeys.add(data.feature);
    for (const side of [data.subscription, data.previous]) {
      const plan = (side as { plan?: unknown } | null | undefined)?.plan;
      if (typeof plan === 'string') planKeys.add(plan);
    }
  }
  const features = new Map<string, string>();
  const plans = new Map<string, string>();
  if (featureKeys.size > 0) {
    for (const row of await tx
      .selectFrom('features')
      .select(['key', 'name'])
      .where('key', 'in', [...featureKeys])
      .execute())
      features.set(row.key, row.name);
  }
  if (planKeys.size > 0) {
    // The newest version's name wins: rows come oldest first and overwrite.
    for (const row of await tx
      .selectFrom('plan_versions')
      .select(['plan_key', 'name'])
      .where('plan_key', 'in', [...planKeys])
      .orderBy('version')
      .execute())
      plans.set(row.plan_key, row.name);
  }
  return { features, plans };
}
