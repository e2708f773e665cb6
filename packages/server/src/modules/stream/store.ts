import type { Db } from '../../db/database.js';
import { customerList } from '../changes/change-feed.js';

/**
 * Changes after `after` that a stream (of one customer, or of all) forwards, oldest first, at
 * most `limit` rows of the table. A change of many customers comes once per customer it names
 * (the stream's own only, for a customer's stream).
 */
export async function readChangesAfter(
  db: Db,
  input: { after: number; customer: string | undefined; limit: number },
): Promise<{ rows: number; lastSeq: number; changes: { seq: number; scope: string; customer_id: string | null }[] }> {
  let query = db
    .selectFrom('changes')
    .select(['seq', 'scope', 'customer_id', 'customer_ids'])
    .where('seq', '>', input.after)
    .where('scope', '!=', 'api_keys')
    .orderBy('seq')
    .limit(input.limit);
  const { customer } = input;
  if (customer !== undefined)
    query = query.where((eb) =>
      eb.or([eb('scope', '=', 'catalog'), eb('customer_id', '=', customer), eb('customer_ids', 'is not', null)]),
    );
  const rows = await query.execute();
  const changes: { seq: number; scope: string; customer_id: string | null }[] = [];
  for (const row of rows) {
    const seq = Number(row.seq);
    if (row.customer_ids === null) {
      changes.push({ seq, scope: row.scope, customer_id: row.customer_id });
      continue;
    }
    for (const id of customerList(row.customer_ids)) {
      if (customer === undefined || id === customer) changes.push({ seq, scope: row.scope, customer_id: id });
    }
  }
  return { rows: rows.length, lastSeq: rows.length === 0 ? input.after : Number(rows[rows.length - 1]!.seq), changes };
}

/** The lowest and highest change still retained (null when there are none). */
export async function changeBounds(db: Db): Promise<{ min: number | null; max: number | null }> {
  const row = await db
    .selectFrom('changes')
    .select((eb) => [eb.fn.min('seq').as('min'), eb.fn.max('seq').as('max')])
    .executeTakeFirst();
  return {
    min: row?.min == null ? null : Number(row.min),
    max: row?.max == null ? null : Number(row.max),
  };
}
