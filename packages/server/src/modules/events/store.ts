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

// At most 7 values a row: a batch of 1,000 stays inside SQLite's (32,766) and PostgreSQL's
// (65,535) bind-parameter limits, and one statement costs one compile and prepare.
const rowsPerStatement = 1000;

/** The stored columns, and where each row's value comes from. */
const eventColumns = [
  ['source', (e: StoredEvents, i: number) => e.source[i]],
  ['id', (e: StoredEvents, i: number) => e.id[i]],
  ['customer_id', (e: StoredEvents, i: number) => e.customerId[i]],
  ['type', (e: StoredEvents, i: number) => e.type[i]],
  ['timestamp', (e: StoredEvents, i: number) => e.timestamp[i]],
  ['properties', (e: StoredEvents, i: number) => e.properties[i]],
] as const;

/** The insert's SQL by dialect, row count and the columns bound once: built once, not per batch. */
const insertSql = new Map<string, string>();

/**
 * A column whose value is the same in every row of the statement (always `received_at`; often
 * `source` and `type`, since a batch tends to come from one producer) is bound once and named by
 * every row: `$N` on PostgreSQL, `@name` on SQLite (better-sqlite3 binds `?` from the arguments
 * and named ones from an object after them). Binding a value cost the writing thread more than
 * SQLite storing it. On SQLite each new row answers its key as one string, `source \0 id`, as
 * `eventKey` builds it: one value a row instead of an object of two (PostgreSQL text cannot hold
 * \0).
 */
function insertEventsSql(dialect: Dialect, rows: number, shared: readonly boolean[]): string {
  const key = `${dialect}:${rows}:${shared.map(Number).join('')}`;
  let text = insertSql.get(key);
  if (text !== undefined) return text;
  const perRow = eventColumns.filter((_, c) => !shared[c]).length;
  const once = new Map<string, string>();
  let next = rows * perRow;
  for (const [c, [name]] of eventColumns.entries()) {
    if (shared[c]) once.set(name, dialect === 'postgres' ? `$${++next}` : `@${name}`);
  }
  const receivedAt = dialect === 'postgres' ? `$${++next}` : '@received_at';
  const tuples: string[] = [];
  let n = 0;
  for (let row = 0; row < rows; row++) {
    const marks = eventColumns.map(([name]) => once.get(name) ?? (dialect === 'postgres' ? `$${++n}` : '?'));
    tuples.push(`(${marks.join(', ')}, ${receivedAt})`);
  }
  const returning = dialect === 'postgres' ? '"source", "id"' : '"source" || char(0) || "id" as "key"';
  text =
    `insert into "events" (${[...eventColumns.map(([name]) => name), 'received_at'].map((c) => `"${c}"`).join(', ')}) ` +
    `values ${tuples.join(', ')} on conflict ("source", "id") do nothing returning ${returning}`;
  insertSql.set(key, text);
  return text;
}

/**
 * Stores the events that are not stored yet and answers which ones were new. The primary key
 * decides, in one statement (`on conflict do nothing`), never a select-then-insert that two
 * concurrent batches could both pass. The statement's text is built once per row count (and set
 * of columns bound once) and only bound per batch: building and compiling a 1,000-row insert
 * through the query builder cost about as much as SQLite's own work storing the rows.
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
    // `id` is never shared: it is the point of the row.
    const shared = eventColumns.map(([name, value]) => {
      if (name === 'id') return false;
      const first = value(events, start);
      for (let event = start + 1; event < end; event++) if (value(events, event) !== first) return false;
      return true;
    });
    const values: unknown[] = [];
    for (let event = start; event < end; event++) {
      for (const [c, [, value]] of eventColumns.entries()) if (!shared[c]) values.push(value(events, event));
    }
    const once: Record<string, unknown> = {};
    for (const [c, [name, value]] of eventColumns.entries()) {
      if (shared[c]) {
        if (input.dialect === 'postgres') values.push(value(events, start));
        else once[name] = value(events, start);
      }
    }
    if (input.dialect === 'postgres') values.push(input.receivedAt);
    else values.push({ ...once, received_at: input.receivedAt });
    const stored = await db.executeQuery<{ key: string } | { source: string; id: string }>(
      CompiledQuery.raw(insertEventsSql(input.dialect, end - start, shared), values),
    );
    for (const row of stored.rows) inserted.add('key' in row ? row.key : eventKey(row.source, row.id));
  }
  return inserted;
}

/** An event's identity as one string. */
export function eventKey(source: string, id: string): string {
  return `${source}\u0000${id}`;
}
