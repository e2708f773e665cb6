import type { Keymaster } from '@keymaster/server';
import { customerId } from '../keymaster-api.js';

export interface CloneCustomersArgs {
  /** A customer created through the API, with its subscription: the rows to copy. */
  template: string;
  /** The customers `customerId(from)` up to, not including, `customerId(to)` are created. */
  from: number;
  to: number;
}

const rowsPerInsert = 500;
const customersPerTransaction = 10_000;

/**
 * Seeds many customers fast by copying the template's customer and subscription rows straight
 * into the database, in batched transactions. The API would take minutes for 100,000 customers;
 * the rows written are the ones the API wrote for the template, so checks see real data, and the
 * feed triggers fire as for any write.
 */
export async function cloneCustomers(input: CloneCustomersArgs & { db: Keymaster['database']['db'] }) {
  const { db, template } = input;
  const customer = await db.selectFrom('customers').selectAll().where('id', '=', template).executeTakeFirstOrThrow();
  const subscription = await db
    .selectFrom('subscriptions')
    .selectAll()
    .where('customer_id', '=', template)
    .executeTakeFirstOrThrow();
  const started = performance.now();
  for (let start = input.from; start < input.to; start += customersPerTransaction) {
    const end = Math.min(input.to, start + customersPerTransaction);
    await db.transaction().execute(async (trx) => {
      for (let chunk = start; chunk < end; chunk += rowsPerInsert) {
        const ids: string[] = [];
        for (let i = chunk; i < Math.min(end, chunk + rowsPerInsert); i++) {
          ids.push(customerId(i));
        }
        await trx
          .insertInto('customers')
          .values(ids.map((id) => ({ ...customer, id })))
          .execute();
        await trx
          .insertInto('subscriptions')
          .values(ids.map((id) => ({ ...subscription, id: `sub_bench_${id}`, customer_id: id })))
          .execute();
      }
    });
  }
  return { created: input.to - input.from, seconds: (performance.now() - started) / 1000 };
}
