import type { Notification as ApiNotification, NotificationEmail as ApiNotificationEmail } from '@keymaster/contract';
import type { Selectable } from 'kysely';
import type { NotificationEmailTable, NotificationTable } from '../../db/schema.js';
import { toIso } from '../../json-column.js';

/** A notification row as the API shows it: an explicit whitelist of fields. */
export function toApiNotification(row: Selectable<NotificationTable>): ApiNotification {
  return {
    id: row.id,
    customer: row.customer_id,
    type: row.type,
    title: row.title,
    body: row.body,
    data: JSON.parse(row.data) as unknown,
    event: row.event_id,
    created_at: toIso(Number(row.created_at)),
    read_at: row.read_at === null ? null : toIso(Number(row.read_at)),
  };
}

/** An email row as the API shows it: never its bodies, which the mail server has. */
export function toApiNotificationEmail(row: Selectable<NotificationEmailTable>): ApiNotificationEmail {
  const time = (value: number | null) => (value === null ? null : toIso(Number(value)));
  return {
    id: row.id,
    customer: row.customer_id,
    notification: row.notification_id,
    type: row.type,
    to: row.recipient,
    subject: row.subject,
    period_start: toIso(Number(row.period_start)),
    status: row.status as ApiNotificationEmail['status'],
    attempts: row.attempts,
    last_error: row.last_error,
    next_attempt_at: time(row.next_attempt_at),
    sent_at: time(row.sent_at),
    created_at: toIso(Number(row.created_at)),
  };
}
