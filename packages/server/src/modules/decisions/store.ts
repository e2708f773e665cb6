import type { DecisionsQuery, LoggedDecision } from '@keymaster/contract';
import type { DecisionProvenance } from '@keymaster/core';
import type { Selectable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { DecisionTable } from '../../db/schema.js';
import { fromIso, toIso } from '../../json-column.js';

export function toApiDecisionRow(row: Selectable<DecisionTable>): LoggedDecision {
  return {
    id: row.id,
    customer: row.customer_id,
    feature: row.feature,
    at: toIso(row.at),
    kind: row.kind as LoggedDecision['kind'],
    allowed: Number(row.allowed) === 1,
    reason: row.reason,
    quantity: row.quantity === null ? null : Number(row.quantity),
    usage: row.usage === null ? null : Number(row.usage),
    limit: row.limit === null ? null : Number(row.limit),
    provenance: JSON.parse(row.provenance) as DecisionProvenance,
  };
}

/** A page of kept decisions, newest first, filtered as the query says; `before`: the cursor's id. */
export async function listDecisions(
  db: Db,
  input: { query: DecisionsQuery; before: string | undefined; limit: number },
): Promise<Selectable<DecisionTable>[]> {
  const { query } = input;
  let select = db
    .selectFrom('decisions')
    .selectAll()
    .orderBy('id', 'desc')
    .limit(input.limit + 1);
  if (input.before !== undefined) select = select.where('id', '<', input.before);
  if (query.customer !== undefined) select = select.where('customer_id', '=', query.customer);
  if (query.feature !== undefined) select = select.where('feature', '=', query.feature);
  if (query.allowed !== undefined) select = select.where('allowed', '=', query.allowed ? 1 : 0);
  if (query.from !== undefined) select = select.where('at', '>=', fromIso(query.from)!);
  if (query.to !== undefined) select = select.where('at', '<', fromIso(query.to)!);
  return select.execute();
}

/** Deletes the decisions older than `before` (retention); answers how many went. */
export async function pruneDecisions(db: Db, before: number): Promise<number> {
  const result = await db.deleteFrom('decisions').where('at', '<', before).executeTakeFirst();
  return Number(result.numDeletedRows);
}
