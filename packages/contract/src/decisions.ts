import { type Static, Type } from '@sinclair/typebox';
import { Nullable, StringEnum, Timestamp } from './schema-helpers.js';

export const DecisionsQuery = Type.Object(
  {
    customer: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'Only this customer’s decisions.' }),
    ),
    feature: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    allowed: Type.Optional(Type.Boolean({ description: '`false`: only refusals; `true`: only allowed ones.' })),
    from: Type.Optional(Timestamp),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'ISO-8601 UTC time, exclusive.' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
  },
  { additionalProperties: false },
);
export type DecisionsQuery = Static<typeof DecisionsQuery>;

/**
 * One decision as the decision log kept it: what was asked, the answer, and which layer decided.
 *
 * @example
 * const d: LoggedDecision = {
 *   id: 'dcn_01j…', customer: 'acme', feature: 'api_calls', at: '2026-06-15T10:32:00.000Z', kind: 'consume',
 *   allowed: false, reason: 'limit_reached', quantity: 10, usage: 100000, limit: 100000,
 *   provenance: { source: 'plan', plan: { key: 'pro', version: 3 }, grants: [], targeting: false, denial: null },
 * };
 */
export const LoggedDecision = Type.Object(
  {
    id: Type.String({ description: '`dcn_…`; ids sort by time.' }),
    customer: Type.String(),
    feature: Type.String(),
    at: Timestamp,
    kind: StringEnum(['check', 'consume'] as const),
    allowed: Type.Boolean(),
    reason: Type.String({ description: 'The decision’s `reason`, e.g. `limit_reached`.' }),
    quantity: Nullable(Type.Integer()),
    usage: Nullable(Type.Number()),
    limit: Nullable(Type.Number()),
    provenance: Type.Object(
      {
        source: Nullable(
          Type.String({
            description:
              'The deciding layer: `kill_switch`, `grant`, `targeting`, `plan`, `addon` or `default`; null when nothing entitled the customer.',
          }),
        ),
        plan: Nullable(Type.Object({ key: Type.String(), version: Nullable(Type.Integer()) })),
        grants: Type.Array(Type.String(), { description: 'The grants on the feature active at the instant.' }),
        targeting: Type.Boolean({ description: 'Whether the feature has a targeting rule.' }),
        denial: Nullable(
          Type.String({
            description: 'Why the entitlement was off: `feature_disabled`, `no_entitlement`, `subscription_inactive`.',
          }),
        ),
      },
      { additionalProperties: false },
    ),
  },
  { description: 'A decision kept by the decision log.' },
);
export type LoggedDecision = Static<typeof LoggedDecision>;
