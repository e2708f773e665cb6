import { type Static, Type } from '@sinclair/typebox';
import { Nullable, StringEnum, Timestamp } from './schema-helpers.js';

export const auditActorTypes = ['api_key', 'user', 'integration', 'system'] as const;

export const AuditEventsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
    actor_type: Type.Optional(StringEnum(auditActorTypes)),
    actor_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'An API key id, `stripe`, …' })),
    action: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'e.g. `subscription.cancel`.' })),
    target_type: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
    target_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    customer: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'ISO-8601 UTC time, exclusive.' })),
  },
  { additionalProperties: false },
);
export type AuditEventsQuery = Static<typeof AuditEventsQuery>;

export const AuditEvent = Type.Object(
  {
    seq: Type.Integer({ description: 'Position in the chain, from 1, without gaps.' }),
    at: Timestamp,
    actor: Type.Object(
      {
        type: StringEnum(auditActorTypes),
        id: Type.String(),
        request_id: Nullable(Type.String({ description: 'The API request that made the change.' })),
      },
      { additionalProperties: false },
    ),
    action: Type.String(),
    target: Type.Object({ type: Type.String(), id: Type.String() }, { additionalProperties: false }),
    customer: Nullable(Type.String()),
    data: Type.Unknown({
      description: 'The change: the changed fields before and after. Null once the customer is erased.',
    }),
    data_digest: Type.String({ description: "SHA-256 of `data`'s canonical form (RFC 8785)." }),
    prev_hash: Type.String(),
    hash: Type.String({ description: 'SHA-256 over `prev_hash` and the row’s canonical form.' }),
  },
  { additionalProperties: false },
);
export type AuditEvent = Static<typeof AuditEvent>;

export const AuditVerification = Type.Object(
  {
    ok: Type.Boolean(),
    count: Type.Integer({ description: 'Rows whose links were checked.' }),
    head: Nullable(Type.String({ description: 'The last hash, when every link holds.' })),
    first_bad_seq: Nullable(Type.Integer({ description: 'The first row edited, missing or out of order.' })),
    reason: Nullable(Type.String()),
  },
  { additionalProperties: false },
);
