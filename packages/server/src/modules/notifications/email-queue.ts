import { emailPeriodStart } from '@keymaster/core';
import type { Insertable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { NotificationEmailTable, NotificationTable } from '../../db/schema.js';
import { newId } from '../../ids.js';
import { insertEmails } from './email-store.js';
import type { EmailTemplates } from './email-templates.js';

/** How the notifications consumer words emails: present only when email is configured. */
export interface EmailComposer {
  templates: EmailTemplates;
  /** `KEYMASTER_EMAIL_PRODUCT_NAME`. */
  productName: string | undefined;
}

/** A notification just made, with what its email needs besides. */
export interface MadeNotification {
  row: Insertable<NotificationTable> & { id: string; customer_id: string; type: string };
  data: unknown;
  /** When its event happened: the calendar month of last resort for the once-per-period rule. */
  occurredAt: number;
}

/**
 * Queues an email for each notification whose customer has an address, rendered now, in the
 * transaction that made the notifications. Per customer, notice type and period only the first
 * is queued: a later one in the same batch is dropped here, one from an earlier batch by the
 * unique key. The sender (`email-sender.ts`) sends them.
 */
export async function queueEmails(input: {
  tx: Db;
  made: readonly MadeNotification[];
  composer: EmailComposer;
  now: number;
}): Promise<void> {
  const { tx, made, composer, now } = input;
  if (made.length === 0) return;
  const customerIds = [...new Set(made.map((m) => m.row.customer_id))];
  const customers = new Map(
    (
      await tx
        .selectFrom('customers')
        .select(['id', 'name', 'email'])
        .where('id', 'in', customerIds)
        .where('email', 'is not', null)
        .execute()
    ).map((c) => [c.id, c]),
  );
  const rows = new Map<string, Insertable<NotificationEmailTable>>();
  for (const { row, data, occurredAt } of made) {
    const customer = customers.get(row.customer_id);
    if (!customer?.email) continue;
    const periodStart = emailPeriodStart({ data, at: occurredAt });
    const key = JSON.stringify([row.customer_id, row.type, periodStart]);
    if (rows.has(key)) continue;
    const rendered = composer.templates.render({
      type: row.type,
      title: row.title,
      body: row.body,
      product_name: composer.productName ?? null,
      customer: { id: customer.id, name: customer.name, email: customer.email },
      data,
    });
    rows.set(key, {
      id: newId('eml'),
      customer_id: row.customer_id,
      notification_id: row.id,
      type: row.type,
      period_start: periodStart,
      recipient: customer.email,
      subject: rendered.subject,
      text_body: rendered.text,
      html_body: rendered.html,
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      last_error: null,
      sent_at: null,
      created_at: now,
      updated_at: now,
    });
  }
  await insertEmails(tx, [...rows.values()]);
}
