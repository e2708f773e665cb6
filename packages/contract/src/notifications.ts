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
