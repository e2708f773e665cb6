import { type Static, Type } from '@sinclair/typebox';
import { Nullable, StringEnum, Timestamp } from './schema-helpers.js';

export const auditActorTypes = ['api_key', 'user', 'integration', 'customer', 'system'] as const;

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
    from_seq: Type.Integer({
      description:
        'Where verification started: 0 (the genesis hash), or the `seq` of the latest retention checkpoint once ' +
        'old rows were pruned.',
    }),
    first_bad_seq: Nullable(Type.Integer({ description: 'The first row edited, missing or out of order.' })),
    reason: Nullable(Type.String()),
  },
  { additionalProperties: false },
);

export const auditCheckpointReasons = ['manual', 'retention'] as const;

/**
 * A point of the audit chain: its `seq`, the hash of that row, how many rows the trail held up to
 * it and when it was made, signed with the server's Ed25519 key when one is configured. Kept
 * outside the database, it shows later that the chain still holds that row with that hash — a
 * chain rewritten since, however consistently, does not.
 *
 * @example
 * { "id": "acp_01j…", "seq": 1042, "hash": "9f2c…", "count": 1042, "at": "2026-03-01T00:00:00.000Z",
 *   "reason": "manual", "signature": "mC0x…", "public_key": "MCowBQYDK2VwAyEA…" }
 */
export const AuditCheckpoint = Type.Object(
  {
    id: Type.String(),
    seq: Type.Integer({ minimum: 0, description: 'The chain’s last row when the checkpoint was made.' }),
    hash: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'That row’s hash.' }),
    count: Type.Integer({
      minimum: 0,
      description: 'Rows the trail held up to `seq` then (for a retention checkpoint: the rows it pruned).',
    }),
    at: Timestamp,
    reason: StringEnum(auditCheckpointReasons, {
      description: '`manual`: asked for; `retention`: made by pruning, verification starts from the latest.',
    }),
    signature: Nullable(
      Type.String({
        description:
          'Ed25519 signature (base64) of the RFC 8785 JSON `{"at","count","hash","seq","type":"keymaster.audit_checkpoint"}`; ' +
          'null when no signing key is configured.',
      }),
    ),
    public_key: Nullable(Type.String({ description: 'The signing key’s public half: SPKI DER, base64.' })),
  },
  { additionalProperties: false },
);
export type AuditCheckpoint = Static<typeof AuditCheckpoint>;

export const AuditCheckpointsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
    reason: Type.Optional(StringEnum(auditCheckpointReasons)),
  },
  { additionalProperties: false },
);
export type AuditCheckpointsQuery = Static<typeof AuditCheckpointsQuery>;
