import type { Db, Dialect } from '../../db/database.js';
import type { BillingChange } from './billing-source.js';

export interface BillingLink {
  source: string;
  externalId: string;
  customerId: string;
  subscriptionId: string;
  lastOrdering: number;
}

/**
 * The link of an external subscription, locked on PostgreSQL for the transaction: two changes of
 * the same external subscription (two nodes, two deliveries) are applied one after the other,
 * the second reading the first's ordering token.
 */
export async function lockLink(
  tx: Db,
  input: { dialect: Dialect; source: string; externalId: string },
): Promise<BillingLink | undefined> {
  let query = tx
    .selectFrom('billing_links')
    .selectAll()
    .where('source', '=', input.source)
    .where('external_id', '=', input.externalId);
  if (input.dialect === 'postgres') query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return (
    row && {
      source: row.source,
      externalId: row.external_id,
      customerId: row.customer_id,
      subscriptionId: row.subscription_id,
      lastOrdering: row.last_ordering,
    }
  );
}

export async function findLink(
  db: Db,
  input: { source: string; externalId: string },
): Promise<BillingLink | undefined> {
  return lockLink(db, { ...input, dialect: 'sqlite' });
}

/** Creates the link or moves it on; the token never goes down (a stale change is not applied). */
export async function saveLink(tx: Db, input: { link: BillingLink; existed: boolean; now: number }): Promise<void> {
  const { link, now } = input;
  if (input.existed) {
    await tx
      .updateTable('billing_links')
      .set({ subscription_id: link.subscriptionId, last_ordering: link.lastOrdering, updated_at: now })
      .where('source', '=', link.source)
      .where('external_id', '=', link.externalId)
      .execute();
    return;
  }
  await tx
    .insertInto('billing_links')
    .values({
      source: link.source,
      external_id: link.externalId,
      customer_id: link.customerId,
      subscription_id: link.subscriptionId,
      last_ordering: link.lastOrdering,
      created_at: now,
      updated_at: now,
    })
    .execute();
}

/** Whether a change with this idempotency id was applied. */
export async function wasApplied(db: Db, change: Pick<BillingChange, 'source' | 'idempotencyId'>): Promise<boolean> {
  const row = await db
    .selectFrom('billing_changes')
    .select('idempotency_id')
    .where('source', '=', change.source)
    .where('idempotency_id', '=', change.idempotencyId)
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Records the change as applied. Its primary key is the guard: a second transaction applying
 * the same change at once fails here (on PostgreSQL it waits for the first to commit, then
 * fails), and rolls back everything it did.
 */
export async function recordApplied(
  tx: Db,
  input: { change: BillingChange; customerId: string; subscriptionId: string; now: number },
): Promise<void> {
  const { change } = input;
  await tx
    .insertInto('billing_changes')
    .values({
      source: change.source,
      idempotency_id: change.idempotencyId,
      external_id: change.externalId,
      customer_id: input.customerId,
      subscription_id: input.subscriptionId,
      ordering: change.ordering,
      actor: change.actor,
      applied_at: input.now,
    })
    .execute();
}
