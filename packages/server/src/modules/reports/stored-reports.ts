import type { ReportOrigin } from '@keymaster/contract';
import type { Insertable, Selectable } from 'kysely';
import type { Db, Dialect } from '../../db/database.js';
import type { ReportTable } from '../../db/schema.js';
import type { CompressedReport } from './report-body.js';

/** A stored report's row without its body. */
export type ReportRow = Omit<Selectable<ReportTable>, 'body'>;

const rowColumns = [
  'id',
  'kind',
  'made',
  'range_from',
  'range_to',
  'filters',
  'scheduled_for',
  'status',
  'claimed_until',
  'created_at',
  'customers',
  'size',
  'compressed_size',
] as const;

export async function insertReport(db: Db, row: Insertable<ReportTable>): Promise<void> {
  await db.insertInto('reports').values(row).execute();
}

/** A ready report's row; undefined for an unknown id or one still being made. */
export async function findReadyReport(db: Db, id: string): Promise<ReportRow | undefined> {
  return db
    .selectFrom('reports')
    .select(rowColumns)
    .where('id', '=', id)
    .where('status', '=', 'ready')
    .executeTakeFirst();
}

/** A ready report's row and its compressed body. */
export async function findReadyReportBody(db: Db, id: string): Promise<(ReportRow & { body: Buffer }) | undefined> {
  const row = await db
    .selectFrom('reports')
    .select([...rowColumns, 'body'])
    .where('id', '=', id)
    .where('status', '=', 'ready')
    .executeTakeFirst();
  return row?.body ? { ...row, body: row.body } : undefined;
}

/** A page of ready reports, newest first; `before`: the cursor's id. */
export async function listReadyReports(
  db: Db,
  input: { made: ReportOrigin | undefined; before: string | undefined; limit: number },
): Promise<ReportRow[]> {
  let select = db
    .selectFrom('reports')
    .select(rowColumns)
    .where('status', '=', 'ready')
    .orderBy('id', 'desc')
    .limit(input.limit);
  if (input.before !== undefined) select = select.where('id', '<', input.before);
  if (input.made !== undefined) select = select.where('made', '=', input.made);
  return select.execute();
}

/** Every ready report's id, oldest first. */
export async function listReadyReportIds(db: Db): Promise<string[]> {
  const rows = await db.selectFrom('reports').select('id').where('status', '=', 'ready').orderBy('id').execute();
  return rows.map((row) => row.id);
}

/** Replaces a ready report's body (an erasure rewrote it). */
export async function replaceReportBody(db: Db, input: { id: string; compressed: CompressedReport }): Promise<void> {
  const { body, size, customers } = input.compressed;
  await db
    .updateTable('reports')
    .set({ body, size, customers, compressed_size: body.length })
    .where('id', '=', input.id)
    .execute();
}

/** The latest fire time the schedule has claimed a report of this kind for, done or not; null for none. */
export async function lastScheduled(db: Db, kind: string): Promise<number | null> {
  const row = await db
    .selectFrom('reports')
    .select((eb) => eb.fn.max('scheduled_for').as('last'))
    .where('kind', '=', kind)
    .executeTakeFirst();
  return row?.last === null || row?.last === undefined ? null : Number(row.last);
}

/** Scheduled reports of this kind claimed and not yet made. */
export async function listPendingScheduled(db: Db, kind: string): Promise<ReportRow[]> {
  return db
    .selectFrom('reports')
    .select(rowColumns)
    .where('kind', '=', kind)
    .where('status', '=', 'pending')
    .orderBy('scheduled_for')
    .execute();
}

/**
 * Moves a pending report's lease from what it was to `until`: false when another node did first
 * (the lease is no longer the one read) or the report is made.
 */
export async function renewClaim(db: Db, input: { id: string; claimedUntil: number; until: number }): Promise<boolean> {
  const result = await db
    .updateTable('reports')
    .set({ claimed_until: input.until })
    .where('id', '=', input.id)
    .where('status', '=', 'pending')
    .where('claimed_until', '=', input.claimedUntil)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Stores the body of a pending report and makes it ready, if the claim is still this node's
 * (its lease is the one it set): false when another node took the work over.
 */
export async function completeClaim(
  db: Db,
  input: { id: string; claimedUntil: number; compressed: CompressedReport; now: number },
): Promise<boolean> {
  const { body, size, customers } = input.compressed;
  const result = await db
    .updateTable('reports')
    .set({
      status: 'ready',
      claimed_until: null,
      created_at: input.now,
      body,
      size,
      customers,
      compressed_size: body.length,
    })
    .where('id', '=', input.id)
    .where('status', '=', 'pending')
    .where('claimed_until', '=', input.claimedUntil)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Customers read per query when checking which still exist. */
const pageSize = 1000;

/**
 * Which of these customers no longer exist, read in the caller's transaction. On PostgreSQL the
 * ones that do are locked (`for share`) until it ends: an erasure of one of them waits for it to
 * commit, and then finds what it stored (see `eraseFromStoredReports`). SQLite's write
 * transactions already run one at a time.
 */
export async function missingCustomers(
  db: Db,
  input: { dialect: Dialect; ids: readonly string[] },
): Promise<Set<string>> {
  const missing = new Set<string>();
  for (let start = 0; start < input.ids.length; start += pageSize) {
    const page = input.ids.slice(start, start + pageSize);
    let select = db.selectFrom('customers').select('id').where('id', 'in', page);
    if (input.dialect === 'postgres') select = select.forShare();
    const found = new Set((await select.execute()).map((row) => row.id));
    for (const id of page) if (!found.has(id)) missing.add(id);
  }
  return missing;
}
