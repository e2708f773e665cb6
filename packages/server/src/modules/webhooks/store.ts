import type { Insertable } from 'kysely';
import type { Db } from '../../db/database.js';
import type { WebhookAttemptTable, WebhookDeliveryTable, WebhookEndpointTable } from '../../db/schema.js';
import type { SecretsAtRest } from '../../secrets-at-rest.js';
import { type AttemptRow, type EndpointRow, fromDbEndpoint, toDbSecrets } from './convert.js';

/** Stores a new endpoint, its secrets encrypted when a key is set. */
export async function insertEndpoint(db: Db, row: EndpointRow, secrets: SecretsAtRest): Promise<void> {
  await db
    .insertInto('webhook_endpoints')
    .values({ ...row, ...toDbSecrets(row, secrets) })
    .execute();
}

export async function findEndpoint(db: Db, id: string, secrets: SecretsAtRest): Promise<EndpointRow | undefined> {
  const row = await db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
  return row && fromDbEndpoint(row, secrets);
}

/** The endpoints of these ids, with their secrets readable. */
export async function findEndpoints(db: Db, ids: string[], secrets: SecretsAtRest): Promise<EndpointRow[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('webhook_endpoints').selectAll().where('id', 'in', ids).execute();
  return rows.map((row) => fromDbEndpoint(row, secrets));
}

export async function listEndpoints(
  db: Db,
  page: { after: string | undefined; limit: number },
  secrets: SecretsAtRest,
): Promise<EndpointRow[]> {
  let query = db.selectFrom('webhook_endpoints').selectAll().orderBy('id').limit(page.limit);
  if (page.after !== undefined) query = query.where('id', '>', page.after);
  return (await query.execute()).map((row) => fromDbEndpoint(row, secrets));
}

/** The enabled endpoints, their secrets as stored (unread): for the fan-out, which signs nothing. */
export async function enabledEndpoints(db: Db): Promise<EndpointRow[]> {
  return db.selectFrom('webhook_endpoints').selectAll().where('status', '=', 'enabled').execute();
}

/**
 * Rewrites every endpoint whose stored secrets are not as `secrets` seals them now (plaintext from
 * before a key was set, under the previous key, or encrypted after the key was removed), and
 * reads every other: a secret no configured key opens fails here, at start, not at a delivery.
 * A row is rewritten only if its secrets are still the ones read, so a rotation meanwhile wins.
 * Answers how many rows were rewritten.
 */
export async function resealEndpointSecrets(db: Db, secrets: SecretsAtRest): Promise<number> {
  const rows = await db.selectFrom('webhook_endpoints').select(['id', 'secret', 'previous_secret']).execute();
  let rewritten = 0;
  for (const row of rows) {
    const opened = fromDbEndpoint(row, secrets);
    const stale = secrets.isStale(row.secret) || (row.previous_secret !== null && secrets.isStale(row.previous_secret));
    if (!stale) continue;
    let update = db
      .updateTable('webhook_endpoints')
      .set(toDbSecrets(opened, secrets))
      .where('id', '=', row.id)
      .where('secret', '=', row.secret);
    update =
      row.previous_secret === null
        ? update.where('previous_secret', 'is', null)
        : update.where('previous_secret', '=', row.previous_secret);
    rewritten += Number((await update.executeTakeFirst()).numUpdatedRows);
  }
  return rewritten;
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
