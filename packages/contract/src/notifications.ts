import { type Static, Type } from '@sinclair/typebox';
import { CustomerId, Nullable, Timestamp } from './schema-helpers.js';

/**
 * An in-app notification to a customer: an alert or a lifecycle notice, made once from the event
 * that caused it.
 *
 * @example
 * const n: Notification = {
 *   id: 'ntf_01j…', customer: 'acme', type: 'usage.threshold_reached',
 *   title: 'You have used 80% of API calls', body: 'Your usage of API calls is 800 of your 1000 this period.',
 *   data: { feature: 'api_calls', value: 80 }, event: 'dev_01j…', created_at: '2026-03-01T12:00:00.000Z', read_at: null,
 * };
 */
export const Notification = Type.Object(
  {
    id: Type.String({ description: 'The notification id, `ntf_…`; ids sort by creation.' }),
    customer: Type.String({ description: 'The customer told.' }),
    type: Type.String({
      description:
        'The event it tells of: `usage.threshold_reached`, `usage.limit_reached`, `trial.ending`, ' +
        '`subscription.updated` (a plan change), `subscription.canceled` or `subscription.expired`.',
    }),
    title: Type.String({ description: 'A short line to show, e.g. "You have used 80% of API calls".' }),
    body: Type.String({ description: 'A sentence or two that say more.' }),
    data: Type.Unknown({ description: "The event's `data`, as webhooks deliver it." }),
    event: Type.String({ description: 'The id of the event it was made from (`dev_…`), as webhooks carry it.' }),
    created_at: Timestamp,
    read_at: Nullable(Timestamp),
  },
  { description: 'An in-app notification.' },
);
export type Notification = Static<typeof Notification>;

export const NotificationParams = Type.Object({
  id: CustomerId,
  nid: Type.String({ description: 'The notification id.' }),
});

export const NotificationListQuery = Type.Object(
  {
    unread: Type.Optional(Type.Boolean({ description: 'Only the notifications not yet marked read.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
  },
  { additionalProperties: false },
);
export type NotificationListQuery = Static<typeof NotificationListQuery>;

/**
 * An email telling a customer of a notification, as sent (or being sent). A customer gets at most
 * one per notice type and period; see docs/notifications.md#email.
 *
 * @example
 * const e: NotificationEmail = {
 *   id: 'eml_01j…', customer: 'acme', notification: 'ntf_01j…', type: 'usage.threshold_reached',
 *   to: 'ops@acme.test', subject: 'Acme: You have used 80% of API calls', period_start: '2026-06-01T00:00:00.000Z',
 *   status: 'sent', attempts: 1, last_error: null, next_attempt_at: null,
 *   sent_at: '2026-06-15T12:00:01.000Z', created_at: '2026-06-15T12:00:00.000Z',
 * };
 */
export const NotificationEmail = Type.Object(
  {
    id: Type.String({ description: 'The email id, `eml_…`; ids sort by creation.' }),
    customer: Type.String({ description: 'The customer emailed.' }),
    notification: Type.String({ description: 'The notification it tells of (`ntf_…`).' }),
    type: Type.String({ description: 'The notice type, as the notification has it.' }),
    to: Type.String({ description: "The customer's address when the email was made." }),
    subject: Type.String({ description: 'The subject line, as rendered from the templates.' }),
    period_start: Timestamp,
    status: Type.Union([Type.Literal('pending'), Type.Literal('sent'), Type.Literal('failed')], {
      description:
        '`pending` (queued, or waiting for a retry at `next_attempt_at`), `sent` (the mail server accepted it) ' +
        'or `failed` (rejected for good, or every retry failed).',
    }),
    attempts: Type.Integer({ minimum: 0, description: 'Attempts made so far.' }),
    last_error: Nullable(Type.String({ description: 'What the last failed attempt came to.' })),
    next_attempt_at: Nullable(Timestamp),
    sent_at: Nullable(Timestamp),
    created_at: Timestamp,
  },
  { description: 'A notification email.' },
);
export type NotificationEmail = Static<typeof NotificationEmail>;

export const NotificationEmailListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
  },
  { additionalProperties: false },
);
export type NotificationEmailListQuery = Static<typeof NotificationEmailListQuery>;
