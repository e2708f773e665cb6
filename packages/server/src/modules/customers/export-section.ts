import { Nullable } from '@keymaster/contract';
import { type TSchema, Type } from '@sinclair/typebox';
import type { RawBuilder, Selectable } from 'kysely';
import type { Database } from '../../db/schema.js';
import { toIso } from '../../json-column.js';
import type { CustomerRecord } from './convert.js';

/**
 * One part of a customer's export: the rows of one table about them, each in its API form where
 * the API has one, else as the row itself with times as ISO-8601 and JSON columns as JSON. Rows
 * are read a page at a time in `key` order, so an export holds one page in memory however many
 * rows the customer has. A new table about customers (a decision log, say) is one more entry in
 * `exportSections`; the export test fails while a table of `customerTables` has none.
 */
export interface ExportSection {
  /** The section's key in the document. */
  readonly name: string;
  /** The table its rows come from. */
  readonly table: keyof Database;
  readonly description: string;
  /** One element of the section, for the OpenAPI document. */
  readonly item: TSchema;
  /** Columns that order the customer's rows and tell them apart: the page cursor. */
  readonly key: readonly string[];
  /** The rows about the customer; default: `customer_id` is theirs. */
  readonly about?: (customer: CustomerRecord) => RawBuilder<unknown>;
  /** The columns read (default: the table's); a join may add some. */
  readonly select?: RawBuilder<unknown>;
  readonly from?: RawBuilder<unknown>;
  readonly convert: (row: never, context: { now: number }) => unknown;
}

export function section<T extends keyof Database, Row = Selectable<Database[T]>>(
  spec: Omit<ExportSection, 'table' | 'key' | 'convert'> & {
    table: T;
    key: readonly (keyof Database[T] & string)[];
    convert: (row: Row, context: { now: number }) => unknown;
  },
): ExportSection {
  return spec as ExportSection;
}

type ColumnType = 'string' | 'integer' | 'number' | 'time' | 'json';
/** A column shown as is: its type, whether it may be null, and what it holds. */
export type Column = [type: ColumnType, description: string, nullable?: 'nullable'];

/**
 * A section with no API form: the columns listed (never `customer_id`, which is the customer's),
 * times as ISO-8601, JSON text as JSON. The list documents each field in the OpenAPI document too.
 */
export function rawSection<T extends keyof Database>(spec: {
  name: string;
  table: T;
  description: string;
  key: readonly (keyof Database[T] & string)[];
  about?: (customer: CustomerRecord) => RawBuilder<unknown>;
  columns: Partial<Record<keyof Database[T] & string, Column>>;
}): ExportSection {
  const columns = Object.entries(spec.columns) as [string, Column][];
  const schemaOf = ([type, description, nullable]: Column): TSchema => {
    const base = {
      string: Type.String({ description }),
      integer: Type.Integer({ description }),
      number: Type.Number({ description }),
      time: Type.String({ format: 'date-time', description }),
    };
    if (type === 'json') return Type.Unknown({ description: `${description} (JSON)` });
    return nullable ? Nullable(base[type]) : base[type];
  };
  const exported = (value: unknown, [type]: Column): unknown => {
    if (value === null || value === undefined) return null;
    if (type === 'time') return toIso(Number(value));
    if (type === 'integer' || type === 'number') return Number(value);
    if (type === 'json') return parsedJson(String(value));
    return value;
  };
  return {
    name: spec.name,
    table: spec.table,
    description: spec.description,
    key: spec.key,
    ...(spec.about ? { about: spec.about } : {}),
    item: Type.Object(Object.fromEntries(columns.map(([name, column]) => [name, schemaOf(column)])), {
      additionalProperties: false,
    }),
    convert: (row: Record<string, unknown>) =>
      Object.fromEntries(columns.map(([name, column]) => [name, exported(row[name], column)])),
  };
}

/** A JSON column's value; text that is not JSON (a stored body that never was) as the text. */
export function parsedJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const time = (description: string): Column => ['time', description];
export const maybeTime = (description: string): Column => ['time', description, 'nullable'];
