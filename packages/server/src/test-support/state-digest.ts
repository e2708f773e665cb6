import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { type DatabaseHandle, type DatabaseTarget, openDatabase } from '../db/database.js';
import { pendingColumns } from '../modules/audit/trail.js';

/**
 * A digest of every table a request can change, read in one query: compare it before and after a
 * request that must change nothing (a refused one). Each table digests to a text of its rows in a
 * stable order, so a difference names the table.
 *
 * Left out, each for a reason that has nothing to do with the request under test:
 * - `idempotency_keys`: a request sent with an Idempotency-Key records its answer, refusals
 *   included, so that a retry gets the same answer; that record is the protocol, not a change.
 * - `api_keys.last_used_at` (the column only): every authenticated request advances it.
 * - `decisions`: the decision log is buffered and written by a background flush, so rows of an
 *   earlier (allowed) check may land while a later request is in flight.
 * - `outbox_consumers`, `webhook_deliveries`, `webhook_attempts`, `notifications`,
 *   `notification_emails`, `alert_firings`: written by background workers as they work through the
 *   domain events of earlier changes, whenever they get to them.
 * - `audit_head`, `audit_checkpoints` and the seal columns: the sealer moves audit rows from
 *   `audit_pending` to `audit_events` every quarter of a second. The trail is still compared: the
 *   rows of both tables as one set, by the columns both have but `data` (a refused request writes
 *   no row).
 */
const skipped = new Set([
  'idempotency_keys',
  'decisions',
  'outbox_consumers',
  'webhook_deliveries',
  'webhook_attempts',
  'notifications',
  'notification_emails',
  'alert_firings',
  'audit_head',
  'audit_checkpoints',
  'audit_pending',
  'audit_events',
]);
const skippedColumns: Record<string, readonly string[]> = { api_keys: ['last_used_at'] };
/**
 * The columns `audit_pending` and `audit_events` share, but `data`, which sealing rewrites in its
 * canonical form (keys sorted): who did what to what, when, for which request.
 */
const auditColumns = pendingColumns.filter((column) => column !== 'data');

export type StateDigest = Record<string, string>;

export interface DigestOptions {
  /** Only rows about this customer (tables without a customer column are left out). */
  customer?: string;
}

interface Source {
  name: string;
  /** A query answering one text column `r`, a row each. */
  rows: string;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const quoteText = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** A row as text: every column's value quoted, so `null` and `'null'` differ. */
function rowText(dialect: DatabaseHandle['dialect'], columns: readonly string[]): string {
  return dialect === 'sqlite'
    ? columns.map((c) => `quote(${quoteIdent(c)})`).join(` || ',' || `)
    : `json_build_array(${columns.map(quoteIdent).join(', ')})::text`;
}

/** Where a table names the customer a row is about, if it does. */
function customerColumn(table: string, columns: readonly string[]): string | undefined {
  if (table === 'customers') return 'id';
  return ['customer_id', 'customer'].find((c) => columns.includes(c));
}

async function tableColumns(handle: DatabaseHandle): Promise<Map<string, string[]>> {
  const rows =
    handle.dialect === 'sqlite'
      ? (
          await sql<{ t: string; c: string }>`
            select m.name as t, p.name as c from sqlite_master m join pragma_table_info(m.name) p
            where m.type = 'table' and m.name not like 'sqlite_%' order by m.name, p.cid`.execute(handle.db)
        ).rows
      : (
          await sql<{ t: string; c: string }>`
            select table_name as t, column_name as c from information_schema.columns
            where table_schema = current_schema() order by table_name, ordinal_position`.execute(handle.db)
        ).rows;
  const tables = new Map<string, string[]>();
  for (const { t, c } of rows) tables.set(t, [...(tables.get(t) ?? []), c]);
  return tables;
}

function sources(handle: DatabaseHandle, tables: Map<string, string[]>, options: DigestOptions): Source[] {
  const { dialect } = handle;
  const filter = (table: string, columns: readonly string[]): string | null => {
    if (options.customer === undefined) return '';
    const column = customerColumn(table, columns);
    return column === undefined ? null : ` where ${quoteIdent(column)} = ${quoteText(options.customer)}`;
  };
  const found: Source[] = [];
  for (const [table, all] of tables) {
    if (skipped.has(table)) continue;
    const columns = all.filter((c) => !skippedColumns[table]?.includes(c));
    const where = filter(table, columns);
    if (where === null) continue;
    found.push({ name: table, rows: `select ${rowText(dialect, columns)} as r from ${quoteIdent(table)}${where}` });
  }
  if (tables.has('audit_events') && tables.has('audit_pending')) {
    const where = filter('audit_events', auditColumns) ?? '';
    const text = rowText(dialect, auditColumns);
    found.push({
      name: 'audit trail',
      rows: `select ${text} as r from audit_pending${where} union all select ${text} as r from audit_events${where}`,
    });
  }
  return found;
}

const columnsByHandle = new WeakMap<DatabaseHandle, Map<string, string[]>>();

/** One scalar subquery a table: its rows' texts in order, joined (group_concat keeps the subquery's order). */
async function readSqlite(handle: DatabaseHandle, all: readonly Source[]): Promise<Record<string, unknown>> {
  const parts = all.map(
    ({ rows }, i) => `(select coalesce(group_concat(r, char(10)), '') from (${rows} order by r)) as t${i}`,
  );
  const result = await sql<Record<string, unknown>>`${sql.raw(`select ${parts.join(', ')}`)}`.execute(handle.db);
  return result.rows[0] ?? {};
}

/** The digest functions made on a PostgreSQL database, by the query they run. */
const functionsByHandle = new WeakMap<DatabaseHandle, Map<string, string>>();

/**
 * PostgreSQL: the tables' texts (or their MD5s) as one array, read through a PL/pgSQL function
 * made in the test's own schema. The function keeps its query's plan, which planning afresh on
 * every call (some 40 subqueries) would cost several times the reading.
 */
async function readPostgres(
  handle: DatabaseHandle,
  all: readonly Source[],
  options: DigestOptions,
  raw: boolean,
): Promise<Record<string, unknown>> {
  const parts = all.map(
    ({ rows }) => `(select coalesce(${raw ? '' : 'md5'}(string_agg(r, E'\\n' order by r)), '') from (${rows}) s)`,
  );
  const query = `select array[${parts.join(', ')}]::text[]`;
  let functions = functionsByHandle.get(handle);
  if (functions === undefined) {
    functions = new Map();
    functionsByHandle.set(handle, functions);
  }
  let name = functions.get(query);
  if (name === undefined) {
    name = `km_state_digest_${functions.size}_${raw ? 'raw' : 'md5'}${options.customer === undefined ? '' : '_customer'}`;
    const create = sql.raw(
      `create or replace function ${name}() returns text[] language plpgsql as $digest$ ` +
        `declare result text[]; begin ${query} into result; return result; end $digest$`,
    );
    // Made as the schema's owner when the handle's own role may only read and write rows.
    const owner = (handle as { migrationTarget?: DatabaseTarget }).migrationTarget;
    if (owner === undefined) {
      await create.execute(handle.db);
    } else {
      const ownerHandle = openDatabase(owner);
      try {
        await create.execute(ownerHandle.db);
      } finally {
        await ownerHandle.close();
      }
    }
    functions.set(query, name);
  }
  const result = await sql<{ d: string[] }>`${sql.raw(`select ${name}() as d`)}`.execute(handle.db);
  const texts = result.rows[0]?.d ?? [];
  return Object.fromEntries(texts.map((text, i) => [`t${i}`, text]));
}

/** See the module comment: one text a table (SHA-256 of its sorted rows), read in one query. */
export async function stateDigest(handle: DatabaseHandle, options: DigestOptions = {}): Promise<StateDigest> {
  return digestOf(handle, options, false);
}

/**
 * The rows behind a digest, as text (a line a row), for the tables named: to show what a refused
 * request changed.
 */
export async function stateRows(handle: DatabaseHandle, names: readonly string[], options: DigestOptions = {}) {
  const all = await digestOf(handle, options, true);
  return Object.fromEntries(names.map((name) => [name, all[name] ?? '']));
}

async function digestOf(handle: DatabaseHandle, options: DigestOptions, raw: boolean): Promise<StateDigest> {
  let tables = columnsByHandle.get(handle);
  if (tables === undefined) {
    tables = await tableColumns(handle);
    columnsByHandle.set(handle, tables);
  }
  const all = sources(handle, tables, options);
  const row =
    handle.dialect === 'sqlite' ? await readSqlite(handle, all) : await readPostgres(handle, all, options, raw);
  const digest: StateDigest = {};
  all.forEach(({ name }, i) => {
    const text = String(row[`t${i}`] ?? '');
    digest[name] = raw ? text : createHash('sha256').update(text).digest('base64url');
  });
  return digest;
}

/** The tables whose digest differs between two states (empty when they are the same). */
export function changedTables(before: StateDigest, after: StateDigest): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => before[name] !== after[name]).sort();
}
