import { CompiledQuery } from 'kysely';
import type { DatabaseHandle, Db, Dialect } from '../../db/database.js';
import { keepPrepared } from '../../db/prepared.js';

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

/** SQLite: the insert's SQL by row count and the columns bound once: built once, not per batch. */
const insertSql = new Map<string, string>();

/**
 * SQLite: a column whose value is the same in every row of the statement (always `received_at`;
 * often `source` and `type`, since a batch tends to come from one producer) is bound once and
 * named by every row as `@name` (better-sqlite3 binds `?` from the arguments and named ones from
 * an object after them). Binding a value cost the writing thread more than SQLite storing it.
 * The statement answers how many rows it stored and the last one's rowid (see `insertNewEvents`).
 */
function insertEventsSql(rows: number, shared: readonly boolean[]): string {
  const key = `${rows}:${shared.map(Number).join('')}`;
  let text = insertSql.get(key);
  if (text !== undefined) return text;
  const tuples: string[] = [];
  for (let row = 0; row < rows; row++) {
    const marks = eventColumns.map(([name], c) => (shared[c] ? `@${name}` : '?'));
    tuples.push(`(${marks.join(', ')}, @received_at)`);
  }
  text =
    `insert into "events" (${[...eventColumns.map(([name]) => name), 'received_at'].map((c) => `"${c}"`).join(', ')}) ` +
    `values ${tuples.join(', ')} on conflict ("source", "id") do nothing`;
  insertSql.set(key, text);
  return text;
}

/**
 * PostgreSQL: any number of events in one statement, bound as one array a column — one text,
 * kept prepared (see prepared.ts), where a multi-row insert of 7,000 values was parsed and
 * planned anew for every batch. It answers the new rows' keys.
 */
const insertEventsFromArrays = `insert into "events" ("source", "id", "customer_id", "type", "timestamp", "properties", "received_at")
select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[])
on conflict ("source", "id") do nothing returning "source", "id"`;
keepPrepared(insertEventsFromArrays);

/** Which of a batch's events were new: every one, or those whose `eventKey` is in the set. */
export type NewEvents = 'all' | Set<string>;

/**
 * Stores the events that are not stored yet and answers which ones were new. The primary key
 * decides, in one statement (`on conflict do nothing`), never a select-then-insert that two
 * concurrent batches could both pass. On PostgreSQL that is `insertEventsFromArrays`, for the
 * whole batch. On SQLite the statement's text is built once per row count (and set of columns
 * bound once) and only bound per batch: building and compiling a 1,000-row insert through the
 * query builder cost about as much as SQLite's own work storing the rows.
 *
 * On SQLite, `returning` had SQLite keep every new row in a temporary table and hand each back
 * as a JavaScript value. Instead the insert answers how many rows it stored: all of them is the
 * common case, and nothing more is read. Otherwise the new rows are read back by rowid: SQLite
 * gives each new row the next rowid after the largest (the table has no `autoincrement` and never
 * reaches 2^63 rows), so one statement's new rows are the `stored` rowids up to the last one, and
 * no other connection writes meanwhile (SQLite has one writer).
 */
export async function insertNewEvents(
  db: Db,
  /** `receivedAt`: of every event, or each event's own (PostgreSQL only). */
  input: { events: StoredEvents; receivedAt: number | readonly number[]; dialect: Dialect },
): Promise<NewEvents> {
  const { receivedAt } = input;
  if (input.dialect === 'postgres') {
    const { events } = input;
    const { rows } = await db.executeQuery<{ source: string; id: string }>(
      CompiledQuery.raw(insertEventsFromArrays, [
        events.source,
        events.id,
        events.customerId,
        events.type,
        events.timestamp,
        events.properties,
        typeof receivedAt === 'number' ? events.id.map(() => receivedAt) : receivedAt,
      ]),
    );
    return rows.length === events.id.length ? 'all' : new Set(rows.map((row) => eventKey(row.source, row.id)));
  }
  if (typeof receivedAt !== 'number') throw new Error('on SQLite, events are stored with one receipt time');
  const inserted = new Set<string>();
  /** SQLite: statements whose rows were all stored, as [first event, end). */
  const allStored: [number, number][] = [];
  let allNew = true;
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
    for (const [c, [name, value]] of eventColumns.entries()) if (shared[c]) once[name] = value(events, start);
    values.push({ ...once, received_at: receivedAt });
    const result = await db.executeQuery(CompiledQuery.raw(insertEventsSql(end - start, shared), values));
    const stored = Number(result.numAffectedRows ?? 0);
    if (stored === end - start) {
      allStored.push([start, end]);
      continue;
    }
    allNew = false;
    if (stored === 0) continue;
    const last = Number(result.insertId);
    const keys = await db.executeQuery<{ key: string }>(
      CompiledQuery.raw(`select "source" || char(0) || "id" as "key" from "events" where rowid > ? and rowid <= ?`, [
        last - stored,
        last,
      ]),
    );
    if (keys.rows.length !== stored) throw new Error(`stored ${stored} events but found ${keys.rows.length} by rowid`);
    for (const row of keys.rows) inserted.add(row.key);
  }
  if (allNew) return 'all';
  for (const [start, end] of allStored) {
    for (let event = start; event < end; event++) inserted.add(eventKey(events.source[event]!, events.id[event]!));
  }
  return inserted;
}

/** Of these events, the identities (`eventKey`) already stored. */
export async function storedEventKeys(db: Db, events: Pick<StoredEvents, 'source' | 'id'>): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let start = 0; start < events.id.length; start += rowsPerStatement) {
    const ids = [...new Set(events.id.slice(start, start + rowsPerStatement))];
    const rows = await db.selectFrom('events').select(['source', 'id']).where('id', 'in', ids).execute();
    for (const row of rows) stored.add(eventKey(row.source, row.id));
  }
  return stored;
}

/** An event's identity as one string. */
export function eventKey(source: string, id: string): string {
  return `${source}\u0000${id}`;
}
