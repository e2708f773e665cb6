import { DomainEventTypes } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { Nullable, StringEnum, Timestamp } from './schema-helpers.js';

/**
 * Every event type a webhook endpoint can subscribe to. The lifecycle types come from the
 * subscription transitions; the usage types from alert rules; `endpoint.disabled` tells the other
 * endpoints that one was switched off after failing for 5 days; `report.ready` that a stored report
 * (a scheduled one, say) can be fetched from its `url`.
 */
export const WebhookEventTypes = [
  ...DomainEventTypes,
  'usage.threshold_reached',
  'usage.limit_reached',
  'payment.failed',
  'credits.expiring',
  'notification.created',
  'endpoint.disabled',
  'report.ready',
] as const;
export type WebhookEventType = (typeof WebhookEventTypes)[number];

const WebhookUrl = Type.String({
  minLength: 1,
  maxLength: 2048,
  description:
    'Where deliveries are POSTed: an https URL whose host resolves to a public address (see docs/webhooks.md).',
});
const Events = Type.Array(StringEnum(WebhookEventTypes), {
  maxItems: WebhookEventTypes.length,
  uniqueItems: true,
  description: 'The event types delivered to this endpoint; every type when omitted.',
});
const Description = Type.String({ maxLength: 500, description: 'What the endpoint is for.' });
const EndpointStatus = StringEnum(['enabled', 'disabled'] as const, {
  description: 'A disabled endpoint gets nothing; one failing for 5 days is disabled by Keymaster.',
});

/**
 * Registers a URL for signed deliveries.
 *
 * @example
 * { "url": "https://example.com/keymaster", "events": ["subscription.created"], "description": "CRM sync" }
 */
export const WebhookEndpointCreate = Type.Object(
  { url: WebhookUrl, events: Type.Optional(Events), description: Type.Optional(Description) },
  { additionalProperties: false, description: 'A new webhook endpoint.' },
);
export type WebhookEndpointCreate = Static<typeof WebhookEndpointCreate>;

/**
 * Changes an endpoint; fields left out stay as they are. Enabling a disabled endpoint restarts its
 * 5-day failure count.
 *
 * @example
 * { "status": "enabled" }
 */
export const WebhookEndpointUpdate = Type.Object(
  {
    url: Type.Optional(WebhookUrl),
    events: Type.Optional(Nullable(Events)),
    description: Type.Optional(Nullable(Description)),
    status: Type.Optional(EndpointStatus),
  },
  { additionalProperties: false, description: 'Changes to a webhook endpoint.' },
);
export type WebhookEndpointUpdate = Static<typeof WebhookEndpointUpdate>;

export const WebhookEndpoint = Type.Object(
  {
    id: Type.String({ description: 'The endpoint id, `whe_…`.' }),
    url: Type.String({ description: 'Where deliveries go.' }),
    events: Nullable(Type.Array(Type.String(), { description: 'The types delivered; null for every type.' })),
    description: Nullable(Type.String({ description: 'What the endpoint is for.' })),
    status: EndpointStatus,
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { description: 'A webhook endpoint (its secret is only shown at creation and rotation).' },
);
export type WebhookEndpoint = Static<typeof WebhookEndpoint>;

export const WebhookEndpointWithSecret = Type.Composite(
  [
    WebhookEndpoint,
    Type.Object({
      secret: Type.String({
        description: 'The signing secret (`whsec_…`), for the `standardwebhooks` library. Shown only now.',
      }),
    }),
  ],
  { description: 'An endpoint and its signing secret: store the secret now, it is never shown again.' },
);
export type WebhookEndpointWithSecret = Static<typeof WebhookEndpointWithSecret>;

export const WebhookEndpointParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'The endpoint id.' }),
});

/** A page of an endpoint's attempts, all of them or only the ones that did (or did not) get a 2xx. */
export const WebhookAttemptListQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
    succeeded: Type.Optional(
      Type.Boolean({ description: '`true`: only the attempts answered 2xx; `false`: only the failed ones.' }),
    ),
  },
  { additionalProperties: false },
);
export type WebhookAttemptListQuery = Static<typeof WebhookAttemptListQuery>;

export const WebhookDeliveryParams = Type.Object({
  id: Type.String({ maxLength: 64, description: 'A delivery id (`whd_…`) or one of its attempts (`wha_…`).' }),
});

/** One attempt to deliver one event to one endpoint. */
export const WebhookAttempt = Type.Object(
  {
    id: Type.String({ description: 'The attempt id, `wha_…`.' }),
    delivery: Type.String({
      description: 'The delivery (one event to this endpoint) it belongs to: resend it by this id.',
    }),
    event: Type.String({ description: 'The event id: the `webhook-id` header, the same on every attempt.' }),
    type: Type.String({ description: 'The event type.' }),
    attempted_at: Timestamp,
    status_code: Nullable(Type.Integer({ description: "The receiver's HTTP status; null when none came." })),
    duration_ms: Type.Integer({ description: 'How long the attempt took.' }),
    response_body: Nullable(Type.String({ description: 'The start of the response body (at most 1 KiB).' })),
    error: Nullable(
      Type.String({ description: 'Why no 2xx came: a timeout, a refused address, a closed connection.' }),
    ),
    succeeded: Type.Boolean({ description: 'Whether the receiver answered 2xx.' }),
    next_retry_at: Nullable(
      Type.String({ format: 'date-time', description: 'When the next attempt is due; null when none is.' }),
    ),
  },
  { description: 'One delivery attempt.' },
);
export type WebhookAttempt = Static<typeof WebhookAttempt>;

export const WebhookDeliveryResent = Type.Object(
  {
    id: Type.String({ description: 'The delivery id, `whd_…`.' }),
    status: Type.Literal('pending', { description: 'Queued to be sent again now.' }),
  },
  { description: 'The delivery, queued again.' },
);
export type WebhookDeliveryResent = Static<typeof WebhookDeliveryResent>;

/**
 * Resends every delivery to the endpoint that failed (ran out of retries) since a time.
 *
 * @example
 * { "since": "2026-01-14T00:00:00Z" }
 */
export const WebhookRecover = Type.Object(
  { since: Type.String({ format: 'date-time', description: 'Deliveries created at or after this time.' }) },
  { additionalProperties: false, description: 'What to recover.' },
);
export type WebhookRecover = Static<typeof WebhookRecover>;

export const WebhookRecovered = Type.Object(
  { recovered: Type.Integer({ description: 'How many failed deliveries were queued again.' }) },
  { description: 'What was queued again.' },
);
export type WebhookRecovered = Static<typeof WebhookRecovered>;
