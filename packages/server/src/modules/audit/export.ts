import type { Db } from '../../db/database.js';
import { toIso } from '../../json-column.js';
import { sealAudit } from './trail.js';

/** The columns of an exported row, in order: every column of `audit_events`. */
export const auditExportColumns = [
  'seq',
  'at',
  'actor_type',
  'actor_id',
  'request_id',
  'action',
  'target_type',
  'target_id',
  'customer_id',
  'data',
  'data_digest',
  'prev_hash',
  'hash',
] as const;

export type AuditExportRow = Record<(typeof auditExportColumns)[number], string | number | null>;

/**
 * The trail's rows with `at` in [from, to), in `seq` order, a page at a time so an export of any
 * size holds one page in memory. Every column as stored, `at` as ISO-8601 (exact to the
 * millisecond the hash covers) and `data` as its stored canonical JSON text, so each row's digest
 * and hash can be recomputed from the export alone (see docs/audit.md).
 */
export async function* exportAudit(
  db: Db,
  range: { from: number | undefined; to: number | undefined },
  pageSize = 1000,
): AsyncGenerator<AuditExportRow> {
  await sealAudit(db);
  let after = 0;
  for (;;) {
    let select = db.selectFrom('audit_events').selectAll().where('seq', '>', after).orderBy('seq').limit(pageSize);
    if (range.from !== undefined) select = select.where('at', '>=', range.from);
    if (range.to !== undefined) select = select.where('at', '<', range.to);
    const rows = await select.execute();
    for (const row of rows) yield { ...row, at: toIso(row.at)! };
    if (rows.length < pageSize) return;
    after = rows.at(-1)!.seq;
  }
}
