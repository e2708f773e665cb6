import { type Static, Type } from '@sinclair/typebox';

/** OpenFeature Remote Evaluation Protocol (OFREP) shapes: https://openfeature.dev/specification/appendix-c */

export const OfrepRequest = Type.Object(
  {
    context: Type.Optional(
      Type.Record(Type.String(), Type.Unsafe<unknown>({}), {
        description:
          'The OpenFeature evaluation context. `targetingKey` is the Keymaster customer id; the rest is caller ' +
          'context for targeting rules (stored traits win; from a customer token, only the keys in ' +
          'KEYMASTER_CLIENT_CONTEXT_KEYS). Without `targetingKey` the feature definition answers ' +
          'as flagd would, over this context.',
      }),
    ),
  },
  { description: 'An OFREP evaluation request.' },
);
export type OfrepRequest = Static<typeof OfrepRequest>;

export const OfrepParams = Type.Object({ key: Type.String({ description: 'The feature key.' }) });

const Metadata = Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
  description:
    "The feature's own flag metadata; with a customer also Keymaster `reason`, `source`, `type`, and `limit`, " +
    '`usage`, `balance`, `unlimited` when known.',
});

export const OfrepEvaluation = Type.Object(
  {
    key: Type.String(),
    value: Type.Optional(
      Type.Unsafe<unknown>({
        description:
          'Boolean, metered and gauge features: `allowed`. Config features: the value (absent when there is none, ' +
          'so the client uses its default).',
      }),
    ),
    reason: Type.String({ description: 'STATIC, TARGETING_MATCH, DEFAULT or DISABLED.' }),
    variant: Type.Optional(Type.String()),
    metadata: Type.Optional(Metadata),
  },
  { description: 'A successful flag evaluation.' },
);
export type OfrepEvaluation = Static<typeof OfrepEvaluation>;

export const OfrepError = Type.Object(
  {
    key: Type.Optional(Type.String()),
    errorCode: Type.String({
      description: 'FLAG_NOT_FOUND, TARGETING_KEY_MISSING, INVALID_CONTEXT, PARSE_ERROR or GENERAL.',
    }),
    errorDetails: Type.Optional(Type.String()),
  },
  { description: 'A failed flag evaluation.' },
);
export type OfrepError = Static<typeof OfrepError>;

export const OfrepBulkResponse = Type.Object(
  { flags: Type.Array(Type.Union([OfrepEvaluation, OfrepError])) },
  { description: 'Every feature of the catalog, evaluated for one customer.' },
);
export type OfrepBulkResponse = Static<typeof OfrepBulkResponse>;
