import { type Static, Type } from '@sinclair/typebox';
import { CustomerId, Timestamp } from './schema-helpers.js';

/** Bounds of a customer token's lifetime, in seconds. */
export const customerTokenTtl = { default: 3600, min: 60, max: 86_400 } as const;

/**
 * Asks for a short-lived token a browser can hold instead of a secret key.
 *
 * @example
 * { "customer": "acme", "ttl_seconds": 900 }
 */
export const CustomerTokenCreate = Type.Object(
  {
    customer: CustomerId,
    ttl_seconds: Type.Optional(
      Type.Integer({
        minimum: customerTokenTtl.min,
        maximum: customerTokenTtl.max,
        description: `Lifetime in seconds, ${customerTokenTtl.min} to ${customerTokenTtl.max}; default ${customerTokenTtl.default} (one hour).`,
      }),
    ),
  },
  { additionalProperties: false, description: 'Which customer the token is for, and for how long.' },
);
export type CustomerTokenCreate = Static<typeof CustomerTokenCreate>;

export const CustomerToken = Type.Object(
  {
    token: Type.String({
      description:
        'A signed JWT (HS256). Send it as `Authorization: Bearer <token>`, or as `access_token` on `GET /v1/stream`.',
    }),
    customer: Type.String({ description: 'The only customer the token can read.' }),
    expires_at: Timestamp,
  },
  {
    description:
      "A customer token: lets a browser read this customer's entitlements, check and stream them — nothing else.",
  },
);
export type CustomerToken = Static<typeof CustomerToken>;
