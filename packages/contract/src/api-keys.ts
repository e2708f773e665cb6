import { type Static, Type } from '@sinclair/typebox';
import { Nullable, Timestamp } from './schema-helpers.js';

export const ApiKeyCreate = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'What the key is for.' })) },
  { additionalProperties: false },
);
export type ApiKeyCreate = Static<typeof ApiKeyCreate>;

export const ApiKey = Type.Object(
  {
    id: Type.String(),
    name: Nullable(Type.String()),
    prefix: Type.String({ description: 'The first characters of the secret, to recognise it.' }),
    created_at: Timestamp,
    last_used_at: Nullable(Timestamp),
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
