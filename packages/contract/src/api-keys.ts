import { type Static, Type } from '@sinclair/typebox';
import { Nullable, StringEnum, Timestamp } from './schema-helpers.js';

/**
 * What an API key may be given; a key may do what any of its scopes allows. A `…:write` scope
 * includes its `…:read`. docs/security.md lists the routes each opens.
 */
export const ApiKeyScopes = [
  'admin',
  'catalog:read',
  'catalog:write',
  'customers:read',
  'customers:write',
  'check',
  'usage:read',
  'usage:write',
  'reports:read',
  'reports:write',
  'audit:read',
  'webhooks:read',
  'webhooks:write',
  'metrics:read',
] as const;
export type ApiKeyScope = (typeof ApiKeyScopes)[number];

const Scopes = Type.Array(StringEnum(ApiKeyScopes), {
  minItems: 1,
  uniqueItems: true,
  description:
    'What the key may do: `admin` (everything), `catalog:read`, `catalog:write`, `customers:read`, ' +
    '`customers:write`, `check` (check, entitlements, stream, OFREP, customer tokens), `usage:read`, ' +
    '`usage:write` (events, consume, reservations, gauges), `reports:read`, `reports:write`, `audit:read`, ' +
    '`webhooks:read`, `webhooks:write`, `metrics:read`.',
});

export const ApiKeyCreate = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'What the key is for.' })),
    scopes: Scopes,
    expires_at: Type.Optional(Timestamp),
  },
  { additionalProperties: false },
);
export type ApiKeyCreate = Static<typeof ApiKeyCreate>;

export const ApiKeyRoll = Type.Object(
  {
    previous_expires_at: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'Until when the rolled key keeps working, so every client can move to the new secret (default: ' +
          'one hour from now; the current time ends it at once).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ApiKeyRoll = Static<typeof ApiKeyRoll>;

export const ApiKey = Type.Object(
  {
    id: Type.String(),
    name: Nullable(Type.String()),
    prefix: Type.String({ description: 'The first characters of the secret, to recognise it.' }),
    scopes: Type.Array(StringEnum(ApiKeyScopes)),
    created_at: Timestamp,
    last_used_at: Nullable(Timestamp),
    expires_at: Nullable(
      Type.String({ format: 'date-time', description: 'When the key stops working (ISO-8601 UTC), or null.' }),
    ),
    revoked_at: Nullable(Timestamp),
  },
  { description: 'A secret API key (the secret itself is only shown once, at creation).' },
);
export type ApiKey = Static<typeof ApiKey>;

export const ApiKeyCreated = Type.Composite([ApiKey, Type.Object({ secret: Type.String() })], {
  description: 'A new key; store `secret` now, it is never shown again.',
});
export type ApiKeyCreated = Static<typeof ApiKeyCreated>;

export const ApiKeyParams = Type.Object({ id: Type.String() });
