import type { Notification as ApiNotification } from '@keymaster/contract';
import type { Selectable } from 'kysely';
import type { NotificationTable } from '../../db/schema.js';
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
