import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Outbound webhooks (`modules/webhooks/`), and the cursors outbox consumers keep.
 *
 * - `outbox_consumers`: one row per consumer of `domain_events` (webhooks now; notifications and
 *   emails later), holding the highest `seq` it has taken. Each consumer moves its own cursor in
 *   the transaction that records what it made of the events, so consumers never wait on each
 *   other and none takes an event twice. The webhooks cursor starts at the end of the outbox:
 *   events from before webhooks existed had no endpoint to go to.
 * - `webhook_endpoints`: where to deliver, which types, the signing secret (kept in clear: it
 *   signs) and the previous one while a rotation's 24 hours run, and since when it has failed.
 * - `webhook_deliveries`: one row per event and endpoint, made by the fan-out; the queue the
 *   delivery workers claim from (`status = 'pending'` and `next_attempt_at` due).
 * - `webhook_attempts`: every attempt, for `GET /v1/webhook-endpoints/{id}/deliveries`.
 *
 * Deliveries and attempts name the customer their event is about, so erasure deletes them.
 */
export function webhooks(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('outbox_consumers')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await sql`insert into outbox_consumers (name, position, updated_at)
        select 'webhooks', coalesce(max(seq), 0), 0 from domain_events`.execute(db);

      await db.schema
        .createTable('webhook_endpoints')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('events', 'text')
        .addColumn('description', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('previous_secret', 'text')
        .addColumn('previous_secret_until', 'bigint')
        .addColumn('failing_since', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('endpoint_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_due')
        .on('webhook_deliveries')
        .columns(['status', 'next_attempt_at'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_endpoint')
        .on('webhook_deliveries')
        .columns(['endpoint_id', 'status', 'created_at'])
        .execute();
      await db.schema
        .createIndex('webhook_deliveries_customer')
        .on('webhook_deliveries')
        .column('customer_id')
        .execute();

      await db.schema
        .createTable('webhook_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('delivery_id', 'text', (c) => c.notNull())
        .addColumn('endpoint_id', 'text', (c) => c.notNull())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('attempted_at', 'bigint', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('response_body', 'text')
        .addColumn('error', 'text')
        .addColumn('succeeded', 'integer', (c) => c.notNull())
        .addColumn('next_retry_at', 'bigint')
        .execute();
      await db.schema
        .createIndex('webhook_attempts_endpoint')
        .on('webhook_attempts')
        .columns(['endpoint_id', 'id'])
        .execute();
      await db.schema.createIndex('webhook_attempts_customer').on('webhook_attempts').column('customer_id').execute();
    },
  };
}
