import type { Keymaster } from '@keymaster/server';
import { customerId } from '../keymaster-api.js';

export interface CloneReportCustomersArgs {
  /** A customer created through the API with its subscription, a grant and some usage: the rows to copy. */
  template: string;
  /** The customers `customerId(from)` up to, not including, `customerId(to)` are created. */
  from: number;
  to: number;
}

/** Customers per multi-row insert: the widest table (subscription history, 10 columns) stays under bind limits. */
const rowsPerInsert = 400;
const customersPerTransaction = 10_000;

/**
 * Seeds many customers for the usage-vs-revenue report by copying everything it reads of the
 * template — customer, subscription and its history, grants (and credit balances), usage
 * counters and hourly usage history — straight into the tables, in batched transactions.
 */
export async function cloneReportCustomers(input: CloneReportCustomersArgs & { db: Keymaster['database']['db'] }) {
  const { db, template } = input;
  const customer = await db.selectFrom('customers').selectAll().where('id', '=', template).executeTakeFirstOrThrow();
  const subscriptions = await db.selectFrom('subscriptions').selectAll().where('customer_id', '=', template).execute();
  const history = await db
    .selectFrom('subscription_history')
    .selectAll()
    .where('customer_id', '=', template)
    .orderBy('seq')
    .execute();
  const grants = await db.selectFrom('grants').selectAll().where('customer_id', '=', template).execute();
  const counters = await db.selectFrom('usage_counters').selectAll().where('customer_id', '=', template).execute();
  const usage = await db.selectFrom('usage_history').selectAll().where('customer_id', '=', template).execute();
  const started = performance.now();
  const subscriptionId = (id: string, original: string) => `${original}_${id}`;
  for (let start = input.from; start < input.to; start += customersPerTransaction) {
    const end = Math.min(input.to, start + customersPerTransaction);
    await db.transaction().execute(async (trx) => {
      for (let chunk = start; chunk < end; chunk += rowsPerInsert) {
        const ids: string[] = [];
        for (let i = chunk; i < Math.min(end, chunk + rowsPerInsert); i++) ids.push(customerId(i));
        await trx
          .insertInto('customers')
          .values(ids.map((id) => ({ ...customer, id })))
          .execute();
        if (subscriptions.length > 0) {
          await trx
            .insertInto('subscriptions')
            .values(
              ids.flatMap((id) => subscriptions.map((s) => ({ ...s, id: subscriptionId(id, s.id), customer_id: id }))),
            )
            .execute();
        }
        if (history.length > 0) {
          await trx
            .insertInto('subscription_history')
            .values(
              ids.flatMap((id) =>
                history.map(({ seq: _seq, ...h }) => {
                  const after = JSON.parse(h.after) as { id: string; customer_id: string };
                  const clone = { ...after, id: subscriptionId(id, after.id), customer_id: id };
                  return {
                    ...h,
                    subscription_id: subscriptionId(id, h.subscription_id),
                    customer_id: id,
                    after: JSON.stringify(clone),
                    before: null,
                  };
                }),
              ),
            )
            .execute();
        }
        if (grants.length > 0) {
          await trx
            .insertInto('grants')
            .values(ids.flatMap((id) => grants.map((g) => ({ ...g, id: `${g.id}_${id}`, customer_id: id }))))
            .execute();
        }
        if (counters.length > 0) {
          await trx
            .insertInto('usage_counters')
            .values(ids.flatMap((id) => counters.map((c) => ({ ...c, customer_id: id }))))
            .execute();
        }
        if (usage.length > 0) {
          await trx
            .insertInto('usage_history')
            .values(ids.flatMap((id) => usage.map((u) => ({ ...u, customer_id: id }))))
            .execute();
        }
      }
    });
  }
  return { created: input.to - input.from, seconds: (performance.now() - started) / 1000 };
}
