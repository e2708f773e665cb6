import type { Db } from '../../db/database.js';

/** Changes after `after` that a stream (of one customer, or of all) forwards, oldest first. */
export async function readChangesAfter(
  db: Db,
  input: { after: number; customer: string | undefined; limit: number },
): Promise<{ seq: number; scope: string; customer_id: string | null }[]> {
  let query = db
    .selectFrom('changes')
    .select(['seq', 'scope', 'customer_id'])
    .where('seq', '>', input.after)
    .where('scope', '!=', 'api_keys')
    .orderBy('seq')
    .limit(input.limit);
  const { customer } = input;
  if (customer !== undefined)
    query = query.where((eb) => eb.or([eb('scope', '=', 'catalog'), eb('customer_id', '=', customer)]));
  const rows = await query.execute();
  return rows.map((row) => ({ ...row, seq: Number(row.seq) }));
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
