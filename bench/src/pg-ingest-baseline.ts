import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';

export interface PgIngestBaselineResult {
  batches: number;
  seconds: number;
  eventsPerSecond: number;
}

/**
 * What PostgreSQL itself does with the ingestion benchmark's batches, measured beside it: the
 * same batches (size, customers, ids ordered or random), each stored through `pg` by one
 * multi-row `INSERT … ON CONFLICT DO NOTHING` into a table with the events' unique key, plus one
 * upsert adding to a counter per customer the batch touched (the counts summed in memory), in one
 * transaction, from as many connections as the benchmark has clients. No HTTP, no parsing, no
 * metering: the ceiling Keymaster's figure is a share of. In a schema of its own, dropped after.
 */
export async function pgIngestBaseline(input: {
  url: string;
  customers: readonly string[];
  batchSize: number;
  ids: 'ordered' | 'random';
  clients: number;
  warmupSeconds: number;
  durationSeconds: number;
}): Promise<PgIngestBaselineResult> {
  const schema = `bench_baseline_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: input.url });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.query(
    `create table ${schema}.events (source text not null, id text not null, customer_id text not null,
       type text not null, timestamp bigint not null, properties text not null, received_at bigint not null,
       primary key (source, id))`,
  );
  await admin.query(
    `create table ${schema}.usage_counters (customer_id text not null, feature text not null,
       period_start bigint not null, value double precision not null, updated_at bigint not null,
       primary key (customer_id, feature, period_start))`,
  );
  const pool = new pg.Pool({ connectionString: input.url, max: input.clients, options: `-c search_path=${schema}` });
  const runId = randomBytes(4).toString('hex');
  const periodStart = Date.UTC(2026, 0, 1);
  const insertText = eventsInsert(input.batchSize);
  let sequence = 0;

  async function storeBatch(): Promise<void> {
    const batch = sequence++;
    const now = Date.now();
    const values: unknown[] = [];
    const counts = new Map<string, number>();
    for (let i = 0; i < input.batchSize; i++) {
      const customer = input.customers[(batch * input.batchSize + i) % input.customers.length]!;
      const id = input.ids === 'random' ? randomUUID() : `${runId}-${batch}-${i}`;
      values.push('api', id, customer, 'api_call', now, '{"units":1}', now);
      counts.set(customer, (counts.get(customer) ?? 0) + 1);
    }
    const customers = [...counts.keys()];
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(insertText, values);
      await client.query(
        `insert into usage_counters (customer_id, feature, period_start, value, updated_at)
         select c, 'api_calls', $3, v, $4 from unnest($1::text[], $2::float8[]) as t(c, v)
         on conflict (customer_id, feature, period_start)
         do update set value = usage_counters.value + excluded.value, updated_at = excluded.updated_at`,
        [customers, customers.map((c) => counts.get(c)), periodStart, now],
      );
      await client.query('commit');
    } finally {
      client.release();
    }
  }

  async function drive(seconds: number): Promise<number> {
    const end = performance.now() + seconds * 1000;
    let batches = 0;
    await Promise.all(
      Array.from({ length: input.clients }, async () => {
        while (performance.now() < end) {
          await storeBatch();
          batches++;
        }
      }),
    );
    return batches;
  }

  try {
    if (input.warmupSeconds > 0) await drive(input.warmupSeconds);
    const started = performance.now();
    const batches = await drive(input.durationSeconds);
    const seconds = (performance.now() - started) / 1000;
    return { batches, seconds, eventsPerSecond: (batches * input.batchSize) / seconds };
  } finally {
    await pool.end();
    await admin.query(`drop schema ${schema} cascade`);
    await admin.end();
  }
}

/** `insert into events … values ($1, …), … on conflict do nothing` for `rows` rows of seven values. */
function eventsInsert(rows: number): string {
  const tuples: string[] = [];
  for (let row = 0; row < rows; row++) {
    const first = row * 7;
    tuples.push(`(${Array.from({ length: 7 }, (_, c) => `$${first + c + 1}`).join(', ')})`);
  }
  return (
    'insert into events (source, id, customer_id, type, timestamp, properties, received_at) ' +
    `values ${tuples.join(', ')} on conflict (source, id) do nothing`
  );
}
