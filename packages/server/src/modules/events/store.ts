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

// 7 values a row: a whole batch of 1,000 (7,000 values) stays inside SQLite's (32,766) and
// PostgreSQL's (65,535) bind-parameter limits, and one statement costs one compile and prepare.
const rowsPerStatement = 1000;

const eventColumns = ['source', 'id', 'customer_id', 'type', 'timestamp', 'properties', 'received_at'] as const;

/** The insert's SQL by dialect and row count: built once, not compiled per batch. */
const insertSql = new Map<string, string>();

function insertEventsSql(dialect: Dialect, rows: number): string {
  const key = `${dialect}:${rows}`;
  let text = insertSql.get(key);
  if (text !== undefined) return text;
  const width = eventColumns.length;
  const tuples: string[] = [];
  for (let row = 0; row < rows; row++) {
    const marks = Array.from({ length: width }, (_, i) => (dialect === 'postgres' ? `$${row * width + i + 1}` : '?'));
    tuples.push(`(${marks.join(', ')})`);
  }
  text =
    `insert into "events" (${eventColumns.map((c) => `"${c}"`).join(', ')}) values ${tuples.join(', ')} ` +
    'on conflict ("source", "id") do nothing returning "source", "id"';
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
    const values: unknown[] = new Array((end - start) * eventColumns.length);
    let i = 0;
    for (let event = start; event < end; event++) {
      values[i++] = events.source[event];
      values[i++] = events.id[event];
      values[i++] = events.customerId[event];
      values[i++] = events.type[event];
      values[i++] = events.timestamp[event];
      values[i++] = events.properties[event];
      values[i++] = input.receivedAt;
    }
    const stored = await db.executeQuery<{ source: string; id: string }>(
      CompiledQuery.raw(insertEventsSql(input.dialect, end - start), values),
    );
    for (const row of stored.rows) inserted.add(eventKey(row.source, row.id));
  }
  return inserted;
}

/** An event's identity as one string. */
export function eventKey(source: string, id: string): string {
  return `${source}\u0000${id}`;
}
