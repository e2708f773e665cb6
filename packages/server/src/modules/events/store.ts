import { CompiledQuery } from 'kysely';
import type { DatabaseHandle, Db, Dialect } from '../../db/database.js';

/** Events to store, column by column; their properties already JSON text. */
export interface StoredEvents {
  source: string[];
  id: string[];
  customerId: string[];
  type: string[];
  timestamp: number[];
  properties: string[];
}

/**
 * Of these customer ids, the ones Keymaster knows: on SQLite's read-only connection when there
 * is one (it does not queue behind a batch being written), else through `db`.
 */
export async function existingCustomers(input: {
  db: Db;
  readNow: DatabaseHandle['readNow'];
  ids: string[];
}): Promise<Set<string>> {
  if (input.ids.length === 0) return new Set();
  const query = input.db.selectFrom('customers').select('id').where('id', 'in', input.ids).compile();
  const rows = (input.readNow?.(query) as { id: string }[] | undefined) ?? (await input.db.executeQuery(query)).rows;
  return new Set(rows.map((row) => row.id));
}

// 6 values a row and one for the statement: a batch of 1,000 stays inside SQLite's (32,766) and
// PostgreSQL's (65,535) bind-parameter limits, and one statement costs one compile and prepare.
const rowsPerStatement = 1000;

/** Bound row by row; `received_at`, the same for every row, is bound once (see insertEventsSql). */
const eventColumns = ['source', 'id', 'customer_id', 'type', 'timestamp', 'properties'] as const;

/** The insert's SQL by dialect and row count: built once, not compiled per batch. */
const insertSql = new Map<string, string>();

/**
 * Every row names the same `received_at` parameter: `$N` on PostgreSQL, `@received_at` on SQLite
 * (better-sqlite3 binds `?` from the arguments and named ones from an object after them). On
 * SQLite each new row answers its key as one string, `source \0 id`, as `eventKey` builds it:
 * one value a row to hand back instead of an object of two (PostgreSQL text cannot hold \0).
 */
function insertEventsSql(dialect: Dialect, rows: number): string {
  const key = `${dialect}:${rows}`;
  let text = insertSql.get(key);
  if (text !== undefined) return text;
  const width = eventColumns.length;
  const receivedAt = dialect === 'postgres' ? `$${rows * width + 1}` : '@received_at';
  const tuples: string[] = [];
  for (let row = 0; row < rows; row++) {
    const marks = Array.from({ length: width }, (_, i) => (dialect === 'postgres' ? `$${row * width + i + 1}` : '?'));
    tuples.push(`(${marks.join(', ')}, ${receivedAt})`);
  }
  const returning = dialect === 'postgres' ? '"source", "id"' : '"source" || char(0) || "id" as "key"';
  text =
    `insert into "events" (${[...eventColumns, 'received_at'].map((c) => `"${c}"`).join(', ')}) ` +
    `values ${tuples.join(', ')} on conflict ("source", "id") do nothing returning ${returning}`;
  insertSql.set(key, text);
  return text;
}

/**
 * Stores the events that are not stored yet and answers which ones were new. The primary key
 * decides, in one statement (`on conflict do nothing`), never a select-then-insert that two
 * concurrent batches could both pass. The statement's text is built once per row count and
 * only bound per batch: building and compiling a 1,000-row insert through the query builder
 * cost about as much as SQLite's own work storing the rows.
 */
export async function insertNewEvents(
  db: Db,
  input: { events: StoredEvents; receivedAt: number; dialect: Dialect },
): Promise<Set<string>> {
  const inserted = new Set<string>();
  const { events } = input;
  const total = events.id.length;
  for (let start = 0; start < total; start += rowsPerStatement) {
    const end = Math.min(total, start + rowsPerStatement);
    const values: unknown[] = new Array((end - start) * eventColumns.length + 1);
    let i = 0;
    for (let event = start; event < end; event++) {
      values[i++] = events.source[event];
      values[i++] = events.id[event];
      values[i++] = events.customerId[event];
      values[i++] = events.type[event];
      values[i++] = events.timestamp[event];
      values[i++] = events.properties[event];
    }
    values[i] = input.dialect === 'postgres' ? input.receivedAt : { received_at: input.receivedAt };
    const stored = await db.executeQuery<{ key: string } | { source: string; id: string }>(
      CompiledQuery.raw(insertEventsSql(input.dialect, end - start), values),
    );
    for (const row of stored.rows) inserted.add('key' in row ? row.key : eventKey(row.source, row.id));
  }
  return inserted;
}

/** An event's identity as one string. */
export function eventKey(source: string, id: string): string {
  return `${source}\u0000${id}`;
}
