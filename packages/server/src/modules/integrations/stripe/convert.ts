import type { StripeEvent as ApiStripeEvent } from '@keymaster/contract';
import { toIso } from '../../../json-column.js';
import type { StripeEventRow } from './store.js';

export function toApiStripeEvent(row: StripeEventRow): ApiStripeEvent {
  return {
    id: row.event_id,
    type: row.type,
    created: toIso(row.created),
    outcome: row.outcome as ApiStripeEvent['outcome'],
    detail: row.detail,
    subscription: row.stripe_subscription,
    customer: row.customer_id,
    received_at: toIso(row.received_at),
    applied_at: toIso(row.applied_at),
  };
}
