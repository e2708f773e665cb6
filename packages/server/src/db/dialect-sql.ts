import { type Kysely, sql } from 'kysely';
import type { Db, Dialect } from './database.js';

/**
 * The only dialect-specific SQL in Keymaster. Everything else goes through Kysely's portable
 * builder; what cannot (auto-increment keys, triggers) lives here, once per dialect.
 */

/** An auto-incrementing 64-bit primary key column type. */
export function serialPrimaryKey(dialect: Dialect) {
  return dialect === 'postgres' ? sql`bigserial primary key` : sql`integer primary key autoincrement`;
}

/** Which change-feed scope a table's writes belong to, and the column naming the customer. */
export interface FeedSource {
  table: string;
  /** `usage`: a customer's balances moved — their cached counters are stale, nothing else is. */
  scope: 'catalog' | 'customer' | 'usage' | 'api_keys';
  customerColumn?: string;
  /** Only these columns' updates matter (e.g. not an API key's last_used_at). */
  updateOf?: string[];
  /**
   * The triggers stay silent in a transaction that muted the scope (see `muteFeedScope`), whose
   * writer announces what it wrote itself. Off by default: on SQLite the check costs every write.
   */
  mutable?: boolean;
}

/**
 * Triggers that append to `changes` on every write to a source table, in the writer's own
 * transaction. This is what makes cache invalidation one mechanism: any code path — a service,
 * a later module, the CLI, a hand-written SQL fix — that writes these tables is announced to
 * every node, and nothing is announced that rolled back.
 */
export async function createFeedTriggers(input: { db: Kysely<unknown>; dialect: Dialect; sources: FeedSource[] }) {
  const { db, dialect, sources } = input;
  if (dialect === 'postgres') {
    await sql`
      create or replace function keymaster_feed() returns trigger language plpgsql as $$
      declare
        row_data jsonb;
      begin
        if TG_ARGV[2] = 'mutable' and current_setting('keymaster.muted_scope', true) = TG_ARGV[0] then
          return null;
        end if;
        if TG_ARGV[1] is null then
          insert into changes (scope, customer_id) values (TG_ARGV[0], null);
        else
          row_data := case when TG_OP = 'DELETE' then to_jsonb(OLD) else to_jsonb(NEW) end;
          insert into changes (scope, customer_id) values (TG_ARGV[0], row_data ->> TG_ARGV[1]);
        end if;
        return null;
      end $$`.execute(db);
    for (const source of sources) {
      const events = source.updateOf
        ? `insert or delete or update of ${source.updateOf.join(', ')}`
        : 'insert or update or delete';
      const args = [source.scope, source.customerColumn ?? null, source.mutable ? 'mutable' : null]
        .map((arg) => (arg === null ? 'null' : `'${arg}'`))
        .join(', ');
      const level = source.customerColumn ? 'row' : 'statement';
      // A muted row is not even queued: the condition is checked as the row is written, without
      // calling the function (which checks again, for triggers made before the condition was).
      const when = source.mutable
        ? ` when (current_setting('keymaster.muted_scope', true) is distinct from '${source.scope}')`
        : '';
      await sql
        .raw(
          `create trigger ${source.table}_feed after ${events} on ${source.table} for each ${level}${when} execute function keymaster_feed(${args})`,
        )
        .execute(db);
    }
    return;
  }
  for (const source of sources) {
    for (const event of ['insert', 'update', 'delete'] as const) {
      const row = event === 'delete' ? 'OLD' : 'NEW';
      const customer = source.customerColumn ? `${row}.${source.customerColumn}` : 'null';
      const on = event === 'update' && source.updateOf ? `update of ${source.updateOf.join(', ')}` : event;
      const when = source.mutable ? ` when not exists (select 1 from feed_muted where scope = '${source.scope}')` : '';
      await sql
        .raw(
          `create trigger ${source.table}_feed_${event} after ${on} on ${source.table} for each row${when} begin insert into changes (scope, customer_id) values ('${source.scope}', ${customer}); end`,
        )
        .execute(db);
    }
  }
}

/** Removes the triggers `createFeedTriggers` put on a table (before re-creating them differently). */
export async function dropFeedTriggers(input: { db: Kysely<unknown>; dialect: Dialect; table: string }) {
  const { db, dialect, table } = input;
  if (dialect === 'postgres') {
    await sql.raw(`drop trigger if exists ${table}_feed on ${table}`).execute(db);
    return;
  }
  for (const event of ['insert', 'update', 'delete'] as const) {
    await sql.raw(`drop trigger if exists ${table}_feed_${event}`).execute(db);
  }
}

/**
 * Silences a mutable scope's feed triggers until `unmuteFeedScope` or the end of the transaction,
 * for a writer that announces what it wrote itself, in fewer rows. PostgreSQL keeps the mark in a
 * transaction-local setting, which its commit or rollback clears. SQLite keeps it in a row of
 * `feed_muted`, which no other connection can see before the commit (SQLite has one writer at a
 * time) and which `unmuteFeedScope` must delete before it: a mark committed by mistake would
 * silence every later writer, so the row's primary key makes the next mute fail loudly instead.
 */
export async function muteFeedScope(input: { db: Db; dialect: Dialect; scope: FeedSource['scope'] }): Promise<void> {
  const { db, scope } = input;
  if (input.dialect === 'postgres') await sql`select set_config('keymaster.muted_scope', ${scope}, true)`.execute(db);
  else await sql`insert into feed_muted (scope) values (${scope})`.execute(db);
}

/** Ends `muteFeedScope`'s silence within the transaction. */
export async function unmuteFeedScope(input: { db: Db; dialect: Dialect; scope: FeedSource['scope'] }): Promise<void> {
  const { db, scope } = input;
  if (input.dialect === 'postgres') await sql`select set_config('keymaster.muted_scope', '', true)`.execute(db);
  else await sql`delete from feed_muted where scope = ${scope}`.execute(db);
}

/** Whether a write failed on a unique constraint (the loser of a race to create the same thing). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * Serialises writers of one (customer, feature) until the transaction ends — what a limit over a
 * rolling window needs, because its usage spans several counters. PostgreSQL takes an advisory
 * lock; SQLite needs nothing more, as its write transactions already run one at a time.
 */
export async function lockUsage(input: { db: Db; dialect: Dialect; key: string }): Promise<void> {
  if (input.dialect !== 'postgres') return;
  await sql`select pg_advisory_xact_lock(hashtextextended(cast(${input.key} as text), 0))`.execute(input.db);
}
