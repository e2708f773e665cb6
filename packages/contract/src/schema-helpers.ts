import { type Static, type TSchema, Type } from '@sinclair/typebox';

/**
 * A nullable scalar or object as a JSON Schema type array (`["integer", "null"]`) rather than
 * `anyOf`: the response serializer handles type arrays without trying each branch in turn, which
 * matters on the hot path, and OpenAPI 3.1 reads them natively.
 */
export function Nullable<T extends TSchema>(schema: T) {
  const type = (schema as { type?: string }).type;
  if (typeof type !== 'string') throw new Error('Nullable() needs a schema with a single type');
  const nullableEnum = Array.isArray(schema.enum) ? { enum: [...schema.enum, null] } : {};
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'], ...nullableEnum });
}

/** A string enum as `{type: "string", enum: [...]}`, typed as the union of its members. */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description?: string } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** Any JSON value (config values, targeting rules, traits). */
export const JsonValue = Type.Unsafe<unknown>({ description: 'Any JSON value.' });

/** An ISO-8601 UTC instant, e.g. `2026-12-01T00:00:00.000Z`. */
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO-8601 UTC time.' });

/** A catalog key: a stable lower-case slug. */
export const CatalogKey = Type.String({
  pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$',
  description: 'Stable slug: lower-case letters, digits, "_", "." or "-", up to 64 characters.',
});

/**
 * A feature key: a slug like `CatalogKey` that may also hold upper-case letters, because flag keys
 * (flagd, OpenFeature) are case-sensitive and often camelCase; `sso` and `SSO` are two features.
 */
export const FeatureKey = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  description: 'A feature key: letters, digits, "_", "." or "-", up to 64 characters (case-sensitive).',
});

/** A customer id: the SaaS's own account id, any printable string without "/" or whitespace. */
export const CustomerId = Type.String({
  pattern: '^[^\\s/]{1,255}$',
  description: 'Your own account id for the customer.',
});

/** A cursor-paginated list, as every list route answers. */
export function Page<T extends TSchema>(item: T, description: string) {
  return Type.Object(
    {
      data: Type.Array(item),
      has_more: Type.Boolean({ description: 'Whether another page follows.' }),
      next_cursor: Nullable(Type.String({ description: 'Pass as `cursor` to get the next page.' })),
    },
    { description },
  );
}

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'Page size, 1-100.' })),
    cursor: Type.Optional(Type.String({ description: 'The `next_cursor` of the previous page.' })),
  },
  { additionalProperties: false },
);
export type PageQuery = Static<typeof PageQuery>;
