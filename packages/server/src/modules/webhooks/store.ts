import type { Insertable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { WebhookAttemptTable, WebhookDeliveryTable, WebhookEndpointTable } from '../../db/schema.js';
import type { AttemptRow, EndpointRow } from './convert.js';

export async function insertEndpoint(db: Db, row: Insertable<WebhookEndpointTable>): Promise<void> {
  await db.insertInto('webhook_endpoints').values(row).execute();
}

export async function findEndpoint(db: Db, id: string): Promise<EndpointRow | undefined> {
  return db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listEndpoints(
  db: Db,
  page: { after: string | undefined; limit: number },
): Promise<EndpointRow[]> {
  let query = db.selectFrom('webhook_endpoints').selectAll().orderBy('id').limit(page.limit);
  if (page.after !== undefined) query = query.where('id', '>', page.after);
  return query.execute();
}

export async function enabledEndpoints(db: Db): Promise<EndpointRow[]> {
  return db.selectFrom('webhook_endpoints').selectAll().where('status', '=', 'enabled').execute();
}

export async function updateEndpoint(
  db: Db,
  id: string,
  changes: Partial<Omit<Insertable<WebhookEndpointTable>, 'id' | 'created_at'>>,
): Promise<void> {
  await db.updateTable('webhook_endpoints').set(changes).where('id', '=', id).execute();
}

/** Deletes the endpoint with its queue and its attempts. */
export async function deleteEndpoint(db: Db, id: string): Promise<void> {
  await db.deleteFrom('webhook_attempts').where('endpoint_id', '=', id).execute();
  await db.deleteFrom('webhook_deliveries').where('endpoint_id', '=', id).execute();
  await db.deleteFrom('webhook_endpoints').where('id', '=', id).execute();
}

export async function insertDeliveries(db: Db, rows: Insertable<WebhookDeliveryTable>[]): Promise<void> {
  // Bounded per statement: PostgreSQL takes at most 65,535 parameters.
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('webhook_deliveries')
      .values(rows.slice(i, i + 500))
      .execute();
  }
}

export async function insertAttempts(db: Db, rows: Insertable<WebhookAttemptTable>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('webhook_attempts')
      .values(rows.slice(i, i + 500))
      .execute();
  }
}

export async function listAttempts(
  db: Db,
  input: { endpointId: string; succeeded?: boolean | undefined; after: string | undefined; limit: number },
): Promise<AttemptRow[]> {
  let query = db
    .selectFrom('webhook_attempts')
    .selectAll()
    .where('endpoint_id', '=', input.endpointId)
    .orderBy('id')
    .limit(input.limit);
  if (input.after !== undefined) query = query.where('id', '>', input.after);
  if (input.succeeded !== undefined) query = query.where('succeeded', '=', input.succeeded ? 1 : 0);
  return query.execute();
}
