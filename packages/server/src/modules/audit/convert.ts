import type { AuditEvent } from '@keymaster/contract';
import type { Selectable } from 'kysely';
import type { AuditEventTable } from '../../db/schema.js';
import { toIso } from '../../json-column.js';
import type { AuditActorType } from './trail.js';

/** An audit row as the API shows it (`GET /v1/audit-events`, a customer's export). */
export function toApiAuditEvent(row: Selectable<AuditEventTable>): AuditEvent {
  return {
    seq: Number(row.seq),
    at: toIso(Number(row.at)),
    actor: { type: row.actor_type as AuditActorType, id: row.actor_id, request_id: row.request_id },
    action: row.action,
    target: { type: row.target_type, id: row.target_id },
    customer: row.customer_id,
    data: row.data === null ? null : JSON.parse(row.data),
    data_digest: row.data_digest,
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}
