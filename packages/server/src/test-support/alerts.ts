import type { TestServer } from './server.js';

/** An alert event as written to the outbox: its type and its `data`. */
export interface FiredAlert {
  event: string;
  type?: string;
  customer: string;
  rule?: string;
  usage: number;
  limit: number | null;
  period_start: string;
}

/** The usage alerts fired for a customer, oldest first, as the outbox holds them. */
export async function firedAlerts(server: TestServer, customer: string): Promise<FiredAlert[]> {
  const rows = await server.keymaster.database.db
    .selectFrom('domain_events')
    .select(['type', 'data'])
    .where('customer_id', '=', customer)
    .where('type', 'like', 'usage.%')
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((row) => ({ event: row.type, ...(JSON.parse(row.data) as Omit<FiredAlert, 'event'>) }));
}
