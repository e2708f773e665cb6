import type { UsageEvent } from '@keymaster/core';
import type { Db } from '../../db/database.js';

/** Of these customer ids, the ones Keymaster knows. */
export async function existingCustomers(db: Db, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('customers').select('id').where('id', 'in', ids).execute();
  return new Set(rows.map((row) => row.id));
}

// 7 values a row: a whole batch of 1,000 (7,000 values) stays inside SQLite's (32,766) and
// PostgreSQL's (65,535) bind-parameter limits, and one statement costs one compile and prepare.
const rowsPerStatement = 1000;

/**
 * Stores the events that are not stored yet and answers which ones were new. The primary key
 * decides, in one statement (`on conflict do nothing`), never a select-then-insert that two
 * concurrent batches could both pass.
 */
export async function insertNewEvents(
  db: Db,
  input: { events: UsageEvent[]; receivedAt: number },
): Promise<Set<string>> {
  const inserted = new Set<string>();
  for (let start = 0; start < input.events.length; start += rowsPerStatement) {
    const rows = input.events.slice(start, start + rowsPerStatement).map((event) => ({
      source: event.source,
      id: event.id,
      customer_id: event.customerId,
      type: event.type,
      timestamp: event.timestamp,
      properties: JSON.stringify(event.properties),
      received_at: input.receivedAt,
    }));
    const stored = await db
      .insertInto('events')
      .values(rows)
      .onConflict((oc) => oc.columns(['source', 'id']).doNothing())
      .returning(['source', 'id'])
      .execute();
    for (const row of stored) inserted.add(eventKey(row.source, row.id));
  }
  return inserted;
}

/** An event's identity as one string. */
export function eventKey(source: string, id: string): string {
  return `${source}\u0000${id}`;
}
