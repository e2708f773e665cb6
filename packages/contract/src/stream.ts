import { type Static, Type } from '@sinclair/typebox';
import { CustomerId } from './schema-helpers.js';

/** The event types `GET /v1/stream` sends (besides heartbeat comments). */
export const StreamEventTypes = ['ready', 'catalog', 'customer', 'usage', 'reset'] as const;
export type StreamEventType = (typeof StreamEventTypes)[number];

export const StreamQuery = Type.Object(
  {
    customer: Type.Optional(
      Type.String({
        pattern: CustomerId.pattern,
        description: "Only this customer's changes (and catalog changes). Required with a customer token.",
      }),
    ),
    access_token: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 4096,
        description:
          "A customer token, for browsers' EventSource, which cannot send an Authorization header. Accepted on this route only.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type StreamQuery = Static<typeof StreamQuery>;

export const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(
    Type.String({
      pattern: '^[0-9]{1,15}$',
      description: 'The `id` of the last event received: the stream resumes after it, without gaps.',
    }),
  ),
});
export type StreamHeaders = Static<typeof StreamHeaders>;
