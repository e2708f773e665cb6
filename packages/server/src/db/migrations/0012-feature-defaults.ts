import { defaultVariants, type FeatureType, type JsonValue } from '@keymaster/core';
import type { Kysely, Migration } from 'kysely';

interface FeatureRow {
  key: string;
  type: string;
  options: string | null;
  targeting: string | null;
  variants: string | null;
}

/**
 * A feature's default variant and flag metadata (flagd's `defaultVariant` and `metadata`), as
 * columns of their own. `keymaster flags import` used to keep the default variant inside the
 * rule, as `{"or": [rule, "<variant>"]}` (`{"or": ["<variant>"]}` without a rule); such rules are
 * split back into the rule and `default_variant` here, so a default variant now answers below the
 * plan (see the entitlements README) instead of overriding it.
 */
export function featureDefaults(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('features').addColumn('default_variant', 'text').execute();
      await db.schema.alterTable('features').addColumn('metadata', 'text').execute();
      // biome-ignore lint/suspicious/noExplicitAny: the migration predates (and outlives) the typed schema
      const typed = db as Kysely<any>;
      const rows: FeatureRow[] = await typed
        .selectFrom('features')
        .select(['key', 'type', 'options', 'targeting', 'variants'])
        .where('targeting', 'is not', null)
        .execute();
      for (const row of rows) {
        const split = unwrapLegacyDefault(row);
        if (!split) continue;
        await typed
          .updateTable('features')
          .set({
            targeting: split.targeting === null ? null : JSON.stringify(split.targeting),
            default_variant: split.defaultVariant,
          })
          .where('key', '=', row.key)
          .execute();
      }
    },
  };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The rule and default variant of a legacy `{"or": [rule, "<variant>"]}` rule, or null for any other rule. */
export function unwrapLegacyDefault(row: Omit<FeatureRow, 'key'>): {
  targeting: JsonValue | null;
  defaultVariant: string;
} | null {
  const targeting = JSON.parse(row.targeting ?? 'null') as JsonValue;
  if (!isObject(targeting) || Object.keys(targeting).length !== 1 || !Array.isArray(targeting.or)) return null;
  const args = targeting.or as JsonValue[];
  const last = args.at(-1);
  if ((args.length !== 1 && args.length !== 2) || typeof last !== 'string') return null;
  const options = JSON.parse(row.options ?? 'null') as JsonValue[] | null;
  const variants = {
    ...defaultVariants({ type: row.type as FeatureType, options }),
    ...(JSON.parse(row.variants ?? 'null') as Record<string, JsonValue> | null),
  };
  if (!(last in variants)) return null;
  return { targeting: args.length === 2 ? (args[0] ?? null) : null, defaultVariant: last };
}
