import { maxQuantity } from '@keymaster/core';
import { type Static, Type } from '@sinclair/typebox';
import { Decision } from './entitlements.js';
import { CatalogKey } from './schema-helpers.js';

/** Sets or adjusts a gauge's current level (seats in use, projects, GB stored). */
export const GaugeUpdate = Type.Object(
  {
    feature: CatalogKey,
    set: Type.Optional(Type.Number({ minimum: 0, maximum: maxQuantity, description: 'The new level.' })),
    delta: Type.Optional(
      Type.Number({
        minimum: -maxQuantity,
        maximum: maxQuantity,
        description: 'A change to the level, e.g. 1 when a seat is added, -1 when removed.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Exactly one of `set` or `delta`.' },
);
export type GaugeUpdate = Static<typeof GaugeUpdate>;

export const GaugeLevel = Type.Object(
  {
    customer: Type.String(),
    feature: Type.String(),
    usage: Type.Number({ description: 'The level now.' }),
  },
  { description: "A gauge's current level." },
);
export type GaugeLevel = Static<typeof GaugeLevel>;

/** Atomic check-and-record: the usage is recorded only when allowed. */
export const ConsumeRequest = Type.Object(
  {
    customer: Type.String({ pattern: '^[^\\s/]{1,255}$' }),
    feature: CatalogKey,
    quantity: Type.Optional(
      Type.Integer({ minimum: 1, maximum: maxQuantity, description: 'Units to use; default 1.' }),
    ),
    idempotency_key: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'A retried consume with the same key counts once.' }),
    ),
  },
  { additionalProperties: false, description: 'Use `quantity` units of a metered feature, if allowed.' },
);
export type ConsumeRequest = Static<typeof ConsumeRequest>;

export const ReservationCreate = Type.Object(
  {
    customer: Type.String({ pattern: '^[^\\s/]{1,255}$' }),
    feature: CatalogKey,
    quantity: Type.Integer({ minimum: 1, maximum: maxQuantity, description: 'Units to hold.' }),
    ttl_seconds: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 86_400,
        default: 300,
        description: 'How long the hold lasts unless settled.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Hold units for work whose final cost is not known yet.' },
);
export type ReservationCreate = Static<typeof ReservationCreate>;

export const ReservationCommit = Type.Object(
  {
    quantity: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: maxQuantity,
        description: 'The actual units used; default the held quantity.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ReservationCommit = Static<typeof ReservationCommit>;

export const reservationStatuses = ['held', 'committed', 'released', 'expired', 'refused'] as const;

export const Reservation = Type.Object(
  {
    id: Type.Union([Type.String(), Type.Null()], { description: 'Null when the hold was refused.' }),
    customer: Type.String(),
    feature: Type.String(),
    quantity: Type.Integer(),
    status: Type.Unsafe<(typeof reservationStatuses)[number]>({ type: 'string', enum: [...reservationStatuses] }),
    committed_quantity: Type.Union([Type.Integer(), Type.Null()]),
    expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    decision: Decision,
  },
  { description: 'A hold on usage and the decision it was granted (or refused) with.' },
);
export type Reservation = Static<typeof Reservation>;
