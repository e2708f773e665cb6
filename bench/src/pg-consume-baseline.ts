import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface PgConsumeBaselineResult {
  /** Consumes a statement carries: one hot customer's units on one row, or one unit on each of as many rows. */
  perStatement: number;
  hot: number[];
  many: number[];
  /** Many customers' consumes/s ÷ the mean of the hot rounds around them. */
  ratio: number;
}

/**
 * What PostgreSQL itself does with batches of consumes, beside the consume benchmark: the row
 * work a batch needs — its counters' conditional upserts and their history hours', in one
 * statement, as Keymaster writes them — through `pg` alone, no HTTP, from `clients` connections.
 * A hot customer's batch is one counter row and one history row with `perStatement` units; a
 * batch over many customers is `perStatement` rows of each, one unit each. Rounds hot, many, hot.
 * In a schema of its own, dropped after.
 */
export async function pgConsumeBaseline(input: {
  url: string;
  customers: number;
  perStatement: number;
  clients: number;
  seconds: number;
}): Promise<PgConsumeBaselineResult> {
  const schema = `bench_consume_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: input.url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.query(
    `create table ${schema}.usage_counters (customer_id text not null, feature text not null,
       period_start bigint not null, value double precision not null, updated_at bigint not null,
       primary key (customer_id, feature, period_start))`,
  );
  await admin.query(
    `create table ${schema}.usage_history (customer_id text not null, feature text not null,
       bucket_start bigint not null, period_start bigint not null, value double precision not null,
       updated_at bigint not null, primary key (customer_id, feature, bucket_start, period_start))`,
  );
  const pool = new pg.Pool({ connectionString: input.url, max: input.clients, options: `-c search_path=${schema}` });
  const customers = Array.from({ length: input.customers }, (_, i) => `cus-${String(i).padStart(6, '0')}`);
  const periodStart = Date.UTC(2026, 0, 1);
  const hour = Date.UTC(2026, 0, 1, 12);
  let next = 0;
  const statement = {
    name: 'consume_batch',
    text: `with batch as (select * from unnest($1::text[], $2::float8[]) as b(customer_id, quantity)),
      added as (
        insert into usage_counters as stored (customer_id, feature, period_start, value, updated_at)
        select customer_id, 'api_calls', $3, quantity, $4 from batch order by customer_id
        on conflict (customer_id, feature, period_start) do update
          set value = stored.value + excluded.value, updated_at = excluded.updated_at
          where stored.value + excluded.value <= 1e12
        returning customer_id, value)
      insert into usage_history as kept (customer_id, feature, bucket_start, period_start, value, updated_at)
      select added.customer_id, 'api_calls', $5, $3, batch.quantity, $4
      from added join batch on batch.customer_id = added.customer_id order by added.customer_id
      on conflict (customer_id, feature, bucket_start, period_start) do update
        set value = kept.value + excluded.value, updated_at = excluded.updated_at`,
  };
  async function one(shape: 'hot' | 'many'): Promise<void> {
    const ids =
      shape === 'hot'
        ? [customers[0]!]
        : Array.from({ length: input.perStatement }, () => customers[next++ % customers.length]!).sort();
    const quantities = shape === 'hot' ? [input.perStatement] : ids.map(() => 1);
    await pool.query({ ...statement, values: [ids, quantities, periodStart, Date.now(), hour] });
  }
  async function round(shape: 'hot' | 'many'): Promise<number> {
    const end = performance.now() + input.seconds * 1000;
    let statements = 0;
    await Promise.all(
      Array.from({ length: input.clients }, async () => {
        while (performance.now() < end) {
          await one(shape);
          statements++;
        }
      }),
    );
    return Math.round((statements * input.perStatement) / input.seconds);
  }
  try {
    await round('many'); // every row exists before anything is measured
    const hot = [await round('hot')];
    const many = [await round('many')];
    hot.push(await round('hot'));
    return {
      perStatement: input.perStatement,
      hot,
      many,
      ratio: Math.round((1000 * many[0]!) / ((hot[0]! + hot[1]!) / 2)) / 1000,
    };
  } finally {
    await pool.end();
    await admin.query(`drop schema ${schema} cascade`);
    await admin.end();
  }
}
