import {
  AlertRule,
  AuditEvent,
  Grant,
  HistoryEntry,
  LoggedDecision,
  Notification,
  NotificationEmail,
  StripeEvent,
  Subscription,
  Timestamp,
  WebhookAttempt,
} from '@keymaster/contract';
import { type TSchema, Type } from '@sinclair/typebox';
import { type Selectable, sql } from 'kysely';
import type { GrantTable } from '../../db/schema.js';
import { fromDbAlertRule, toApiAlertRule } from '../alerts/convert.js';
import { toApiAuditEvent } from '../audit/convert.js';
import { toApiDecisionRow } from '../decisions/store.js';
import { fromDbGrant, toApiGrant } from '../grants/convert.js';
import { toApiStripeEvent } from '../integrations/stripe/convert.js';
import { toApiNotification, toApiNotificationEmail } from '../notifications/convert.js';
import { fromDbSubscription, toApiHistoryEntry, toApiSubscription } from '../subscriptions/convert.js';
import { toApiAttempt } from '../webhooks/convert.js';
import { type ExportSection, maybeTime, parsedJson, rawSection, section, time } from './export-section.js';

/** Every section of the export, in the document's order (after `version`, `exported_at` and `customer`). */
export const exportSections: readonly ExportSection[] = [
  section({
    name: 'subscriptions',
    table: 'subscriptions',
    description: 'Their subscriptions, live and ended, as `GET /v1/subscriptions/{id}` shows them.',
    item: Subscription,
    key: ['id'],
    convert: (row, { now }) => toApiSubscription(fromDbSubscription(row), now),
  }),
  section({
    name: 'subscription_history',
    table: 'subscription_history',
    description: 'Every change to their subscriptions, oldest first, as `GET /v1/subscriptions/{id}/history` shows it.',
    item: HistoryEntry,
    key: ['seq'],
    convert: (row) => toApiHistoryEntry(row),
  }),
  section<'grants', Selectable<GrantTable> & { remaining: number | null }>({
    name: 'grants',
    table: 'grants',
    description: 'Their grants, revoked and expired ones too, as `GET /v1/customers/{id}/grants` shows them.',
    item: Grant,
    key: ['id'],
    select: sql`grants.*, credit_balances.remaining`,
    from: sql`grants left join credit_balances on credit_balances.grant_id = grants.id`,
    convert: (row, { now }) => toApiGrant(fromDbGrant(row), now),
  }),
  rawSection({
    name: 'credit_balances',
    table: 'credit_balances',
    description: 'What is left of each of their credit grants (also `remaining` in `grants`).',
    key: ['grant_id'],
    columns: {
      grant_id: ['string', 'The credit grant.'],
      feature: ['string', 'The feature the credits are for.'],
      remaining: ['number', 'Credits left.'],
      updated_at: time('Last change.'),
      expiry_noticed_at: maybeTime('When `credits.expiring` was sent for the grant.'),
    },
  }),
  rawSection({
    name: 'usage_events',
    table: 'events',
    description: 'Every usage event recorded for them, by source and id.',
    key: ['source', 'id'],
    columns: {
      id: ['string', 'The event id the sender gave.'],
      source: ['string', 'The CloudEvents source; empty for events sent to `POST /v1/events`.'],
      type: ['string', 'The event type.'],
      timestamp: time('When it happened, as the sender said.'),
      properties: ['json', 'Its properties'],
      received_at: time('When Keymaster stored it.'),
    },
  }),
  rawSection({
    name: 'usage_counters',
    table: 'usage_counters',
    description: 'Their usage of each metered feature or gauge, per usage period.',
    key: ['feature', 'period_start'],
    columns: {
      feature: ['string', 'The feature (or pool).'],
      period_start: time('The start of the usage period (the epoch for gauges and lifetime limits).'),
      value: ['number', 'The usage.'],
      latest_at: maybeTime('For `latest` meters: when the value was observed.'),
      updated_at: time('Last change.'),
    },
  }),
  rawSection({
    name: 'usage_distinct_values',
    table: 'usage_distinct',
    description: 'The values a `unique_count` meter counted for them, per period.',
    key: ['feature', 'period_start', 'value'],
    columns: {
      feature: ['string', 'The feature.'],
      period_start: time('The start of the usage period.'),
      value: ['string', 'The distinct value (an event property).'],
    },
  }),
  rawSection({
    name: 'usage_history',
    table: 'usage_history',
    description: 'What their usage added, per feature and UTC hour (`GET /v1/customers/{id}/usage` sums these).',
    key: ['feature', 'bucket_start', 'period_start'],
    columns: {
      feature: ['string', 'The feature.'],
      bucket_start: time('The start of the UTC hour.'),
      period_start: time('The usage period it counted in.'),
      value: ['number', 'What the hour added.'],
      latest_at: maybeTime('For `latest` meters: when the value was observed.'),
      updated_at: time('Last change.'),
    },
  }),
  rawSection({
    name: 'consumptions',
    table: 'consumptions',
    description: 'Their `POST /v1/consume` calls, each kept under its idempotency key with its answer.',
    key: ['idempotency_key'],
    columns: {
      idempotency_key: ['string', 'The key the caller gave.'],
      response: ['json', 'The decision answered; null while the first attempt was running'],
      created_at: time('When it was made.'),
    },
  }),
  rawSection({
    name: 'reservations',
    table: 'reservations',
    description: 'Their holds on usage (`POST /v1/reservations`) and how each was settled.',
    key: ['id'],
    columns: {
      id: ['string', 'The reservation.'],
      feature: ['string', 'The feature held.'],
      quantity: ['number', 'Units held.'],
      status: ['string', '`held`, `committed`, `released` or `expired`.'],
      committed_quantity: ['number', 'Units committed.', 'nullable'],
      period_start: time('The usage period the units were added to.'),
      expires_at: time('When an unsettled hold lapses.'),
      created_at: time('When it was made.'),
      settled_at: maybeTime('When it was committed, released or expired.'),
    },
  }),
  section({
    name: 'decisions',
    table: 'decisions',
    description: 'Checks and consumes the decision log kept about them, as `GET /v1/decisions` shows them.',
    item: LoggedDecision,
    key: ['id'],
    convert: (row) => toApiDecisionRow(row),
  }),
  section({
    name: 'notifications',
    table: 'notifications',
    description: 'Their in-app notifications, as `GET /v1/customers/{id}/notifications` shows them.',
    item: Notification,
    key: ['id'],
    convert: (row) => toApiNotification(row),
  }),
  section({
    name: 'notification_emails',
    table: 'notification_emails',
    description:
      'Emails sent (or to be sent) to them, as `GET /v1/customers/{id}/emails` shows them, with the bodies sent.',
    item: Type.Composite([
      NotificationEmail,
      Type.Object({ text_body: Type.String(), html_body: Type.String() }, { additionalProperties: false }),
    ]),
    key: ['id'],
    convert: (row) => ({ ...toApiNotificationEmail(row), text_body: row.text_body, html_body: row.html_body }),
  }),
  rawSection({
    name: 'webhook_deliveries',
    table: 'webhook_deliveries',
    description: 'Every webhook event about them queued for an endpoint of yours, with the body sent.',
    key: ['id'],
    columns: {
      id: ['string', 'The delivery.'],
      endpoint_id: ['string', 'The endpoint it goes to.'],
      event_id: ['string', 'The event.'],
      event_type: ['string', 'The event type.'],
      payload: ['json', 'The body as sent'],
      status: ['string', '`pending`, `succeeded` or `failed`.'],
      attempts: ['integer', 'Attempts since it was (re)queued.'],
      next_attempt_at: maybeTime('When it is tried next.'),
      created_at: time('When it was queued.'),
      updated_at: time('Last change.'),
    },
  }),
  section({
    name: 'webhook_attempts',
    table: 'webhook_attempts',
    description: 'Each attempt to deliver those events, as `GET /v1/webhook-endpoints/{id}/deliveries` shows them.',
    item: WebhookAttempt,
    key: ['id'],
    convert: (row) => toApiAttempt(row),
  }),
  section({
    name: 'alert_rules',
    table: 'alert_rules',
    description: 'Usage alert rules set for them alone (rules for a plan are not about one customer).',
    item: AlertRule,
    key: ['id'],
    convert: (row) => toApiAlertRule(fromDbAlertRule(row)),
  }),
  rawSection({
    name: 'alert_firings',
    table: 'alert_firings',
    description: 'Usage alerts that fired for them, once per rule, feature and period.',
    key: ['rule_id', 'feature', 'period_start'],
    columns: {
      rule_id: ['string', 'The rule (`limit` for `usage.limit_reached`).'],
      feature: ['string', 'The feature.'],
      period_start: time('The usage period.'),
      fired_at: time('When it fired.'),
    },
  }),
  section({
    name: 'audit_events',
    table: 'audit_events',
    description: 'Rows of the audit trail about them, oldest first, as `GET /v1/audit-events?customer=` shows them.',
    item: AuditEvent,
    key: ['seq'],
    convert: (row) => toApiAuditEvent(row),
  }),
  rawSection({
    name: 'domain_events',
    table: 'domain_events',
    description: 'Events about them in the outbox, the source of webhooks, notifications and alerts.',
    key: ['seq'],
    columns: {
      id: ['string', 'The event id (webhooks carry it).'],
      type: ['string', 'The event type.'],
      subscription_id: ['string', 'The subscription it is about.', 'nullable'],
      occurred_at: time('When it happened.'),
      data: ['json', 'What it says'],
      created_at: time('When it was recorded.'),
      delivered_at: maybeTime('When it was handed on.'),
    },
  }),
  rawSection({
    name: 'stored_answers',
    table: 'idempotency_keys',
    description: 'Answers to their requests kept for `Idempotency-Key` replays (for 24 hours).',
    key: ['scope', 'key'],
    columns: {
      scope: ['string', 'The credential and route the key is for.'],
      key: ['string', 'The Idempotency-Key.'],
      state: ['string', 'How far the request got.'],
      response_status: ['integer', 'The status answered.', 'nullable'],
      response_body: ['json', 'The body answered'],
      created_at: time('When the request came.'),
      expires_at: time('When the answer is forgotten.'),
    },
  }),
  section({
    name: 'stripe_events',
    table: 'stripe_events',
    description:
      'Events Stripe sent about them (or their Stripe customer), as `GET /v1/integrations/stripe/events` shows ' +
      'them, with the payload received.',
    item: Type.Composite([
      StripeEvent,
      Type.Object({ payload: Type.Unknown({ description: 'The event as received.' }) }),
    ]),
    key: ['id'],
    about: (customer) =>
      customer.stripeCustomer === null
        ? sql`stripe_events.customer_id = ${customer.id}`
        : sql`(stripe_events.customer_id = ${customer.id} or stripe_events.stripe_customer = ${customer.stripeCustomer})`,
    convert: (row) => ({ ...toApiStripeEvent(row), payload: parsedJson(row.payload) }),
  }),
  rawSection({
    name: 'billing_links',
    table: 'billing_links',
    description: 'Subscriptions of a billing system that drive theirs.',
    key: ['source', 'external_id'],
    columns: {
      source: ['string', 'The billing system.'],
      external_id: ['string', 'Its subscription id.'],
      subscription_id: ['string', 'The Keymaster subscription.'],
      last_ordering: ['number', 'The ordering token of the last change applied.'],
      created_at: time('When it was linked.'),
      updated_at: time('Last change.'),
    },
  }),
  rawSection({
    name: 'billing_changes',
    table: 'billing_changes',
    description: 'Changes a billing system made to their subscriptions, by idempotency id.',
    key: ['source', 'idempotency_id'],
    columns: {
      source: ['string', 'The billing system.'],
      idempotency_id: ['string', 'The change.'],
      external_id: ['string', 'Its subscription id.'],
      subscription_id: ['string', 'The Keymaster subscription.'],
      ordering: ['number', 'Its ordering token.'],
      actor: ['string', 'Who made it.'],
      applied_at: time('When it was applied.'),
    },
  }),
  rawSection({
    name: 'contract_revisions',
    table: 'contract_revisions',
    description: 'Revisions of signed contracts (CRM deals) applied to them (`POST /v1/contracts`).',
    key: ['system', 'deal_id', 'revision'],
    columns: {
      system: ['string', 'The CRM.'],
      deal_id: ['string', 'The deal.'],
      revision: ['integer', 'The revision.'],
      subscription_id: ['string', 'The subscription it provisioned.'],
      grant_ids: ['json', 'The grants it created'],
      answer: ['json', 'Its first answer'],
      created_at: time('When it was applied.'),
    },
  }),
];

/** The document's OpenAPI schema: the header fields, the customer, then one array per section. */
export function exportDocumentSchema(input: { customer: TSchema; version: number }): TSchema {
  return Type.Object(
    {
      version: Type.Literal(input.version, { description: 'The format of this document.' }),
      exported_at: Timestamp,
      customer: input.customer,
      ...Object.fromEntries(
        exportSections.map((s) => [s.name, Type.Array(s.item, { description: `\`${s.table}\`: ${s.description}` })]),
      ),
    },
    { additionalProperties: false, description: 'Everything Keymaster holds about one customer.' },
  );
}
