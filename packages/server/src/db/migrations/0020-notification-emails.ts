import type { Kysely, Migration } from 'kysely';

/**
 * Notification emails (`modules/notifications/`): the queue the email sender claims from, and
 * the record of what was sent.
 *
 * - `notification_emails`: one row per email, made by the `notifications` consumer in the
 *   transaction that makes the in-app notification, when email is configured and the customer
 *   has an address. Subject and bodies are rendered then, so what is retried is what was meant.
 *   The unique (customer, type, period) key makes at most one email per customer, notice type
 *   and period (see docs/notifications.md for how the period is chosen).
 * - `status` is `pending` (due at `next_attempt_at`), `sent` or `failed`; `attempts` and
 *   `last_error` tell how sending went.
 *
 * Rows name their customer (and their address), so erasure removes them.
 */
export function notificationEmails(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('notification_emails')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('customer_id', 'text', (c) => c.notNull())
        .addColumn('notification_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('period_start', 'bigint', (c) => c.notNull())
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('text_body', 'text', (c) => c.notNull())
        .addColumn('html_body', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', 'bigint')
        .addColumn('last_error', 'text')
        .addColumn('sent_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('notification_emails_once', ['customer_id', 'type', 'period_start'])
        .execute();
      await db.schema
        .createIndex('notification_emails_due')
        .on('notification_emails')
        .columns(['status', 'next_attempt_at'])
        .execute();
      // Listing a customer's emails by id (ids sort by creation).
      await db.schema
        .createIndex('notification_emails_customer')
        .on('notification_emails')
        .columns(['customer_id', 'id'])
        .execute();
    },
  };
}
