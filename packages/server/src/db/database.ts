import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { type CompiledQuery, Kysely, PostgresAdapter, type Transaction } from 'kysely';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import { KeymasterPostgresDialect, KeymasterSqliteDialect } from './dialects.js';
import { preparing } from './prepared.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/** A database handle or a transaction in its place: stores accept either. */
export type Db = Kysely<Database> | Transaction<Database>;

/** Whether `db` (a handle or a transaction) is on PostgreSQL, for a store that writes SQL of its own there. */
export function onPostgres(db: Db): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

export interface DatabaseHandle {
  db: Kysely<Database>;
  dialect: Dialect;
  /**
   * SQLite on a file only: runs a read at once on a second, read-only connection and answers its
   * rows, or undefined when that connection is busy (the caller then reads through `db`). It sees
   * what is committed — never a transaction still open on the main connection — and does not wait
   * for one to finish, as a read through `db` does (Kysely gives SQLite one connection).
   */
  readNow: ((query: CompiledQuery) => unknown[] | undefined) | undefined;
  /**
   * `readNow` answering each row's first column only, not an object: for reads of many rows,
   * where building an object a row (a property set at a time through V8's API) cost more than
   * reading them.
   */
  readColumnNow: ((query: CompiledQuery) => unknown[] | undefined) | undefined;
  /** SQLite on a file only: the file, for another thread to open a connection of its own. */
  sqliteFile: string | undefined;
  /**
   * Where migrations run when not through `db`: the PostgreSQL role that owns the schema
   * (KEYMASTER_MIGRATION_DATABASE_URL), while `db` connects as one that may only read and write
   * rows. Undefined: migrations run through `db`.
   */
  migrationTarget: DatabaseTarget | undefined;
  close(): Promise<void>;
}

export type DatabaseTarget =
  | { dialect: 'sqlite'; file: string }
  | {
      dialect: 'postgres';
      url: string;
      schema?: string | undefined;
      poolSize?: number | undefined;
      /** The schema owner's connection, that migrations run through (see `DatabaseHandle.migrationTarget`). */
      migrationUrl?: string | undefined;
    };

/**
 * Where the data lives: PostgreSQL when DATABASE_URL is a postgres URL, else SQLite in the data
 * dir. On PostgreSQL, `migrationUrl` (KEYMASTER_MIGRATION_DATABASE_URL) is the role migrations run
 * as, when it is not the one the server serves as.
 */
export function databaseTarget(input: {
  databaseUrl: string | undefined;
  migrationUrl?: string | undefined;
  dataDir: string;
}): DatabaseTarget {
  if (input.databaseUrl && /^postgres(ql)?:\/\//.test(input.databaseUrl)) {
    return { dialect: 'postgres', url: input.databaseUrl, migrationUrl: input.migrationUrl };
  }
  if (input.databaseUrl?.startsWith('sqlite:')) {
    return { dialect: 'sqlite', file: input.databaseUrl.slice('sqlite:'.length).replace(/^\/\//, '') };
  }
  return { dialect: 'sqlite', file: join(input.dataDir, 'keymaster.db') };
}

/** How long PostgreSQL may take before a request fails with 503 instead of waiting on (0: no limit). */
export interface PostgresTimeouts {
  /** Longest a statement may run (`statement_timeout`): a runaway query ends instead of piling up. */
  statementMs: number;
  /** Longest a statement may wait for a lock (`lock_timeout`): a stuck lock gives a bounded wait. */
  lockMs: number;
  /** Longest to open a connection, or to wait for a free one in the pool. */
  connectMs: number;
}

export const defaultPostgresTimeouts: PostgresTimeouts = Object.freeze({
  statementMs: 10_000,
  lockMs: 3000,
  connectMs: 5000,
});

export function openDatabase(
  target: DatabaseTarget,
  options: {
    postgresTimeouts?: PostgresTimeouts | undefined;
    /**
     * Told of each PostgreSQL connection that fails (terminated, reset, the server restarting):
     * the pool drops it and opens another on next use.
     */
    onConnectionError?: ((error: Error) => void) | undefined;
  } = {},
): DatabaseHandle {
  if (target.dialect === 'sqlite') return openSqlite(target.file);
  return openPostgres({
    ...target,
    timeouts: options.postgresTimeouts ?? defaultPostgresTimeouts,
    onConnectionError: options.onConnectionError ?? (() => {}),
  });
}

/**
 * A read-write connection to a SQLite file, through the query builder: the main one, or another
 * thread's own (see `modules/events/batch-thread.ts`). Writers on one file take turns on
 * SQLite's write lock, waiting up to 5 s for it.
 */
export function openSqliteConnection(file: string): Kysely<Database> {
  const sqlite = new SqliteDatabase(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  return new Kysely<Database>({ dialect: new KeymasterSqliteDialect({ database: withStatementCache(sqlite) }) });
}

/**
 * Creates the directory and the database file readable by this user only: they hold every
 * customer's data. SQLite gives the -wal and -shm files it creates beside the database the
 * database file's own mode. A directory or file that exists already keeps its mode.
 */
function createPrivately(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

function openSqlite(file: string): DatabaseHandle {
  if (file !== ':memory:') createPrivately(file);
  const db = openSqliteConnection(file);
  if (file === ':memory:') {
    return {
      db,
      dialect: 'sqlite',
      readNow: undefined,
      readColumnNow: undefined,
      sqliteFile: undefined,
      migrationTarget: undefined,
      close: () => db.destroy(),
    };
  }
  const reader = new SqliteDatabase(file, { readonly: true });
  // A WAL reader waits only while another connection recovers the log; the event loop must not.
  reader.pragma('busy_timeout = 0');
  const readStatements = withStatementCache(reader);
  const columnStatements = withStatementCache(reader, { firstColumn: true });
  const now = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_BUSY') return undefined;
      throw error;
    }
  };
  return {
    db,
    dialect: 'sqlite',
    sqliteFile: file,
    migrationTarget: undefined,
    readNow: (query) => now(() => readStatements.prepare(query.sql).all(query.parameters)),
    readColumnNow: (query) => now(() => columnStatements.prepare(query.sql).all(query.parameters)),
    async close() {
      await db.destroy();
      reader.close();
    },
  };
}

/** Prepared statements kept per connection; past this, the least recently used one goes. */
export const statementCacheSize = 512;

/** A kept statement, taking its parameters as one list (as Kysely's SQLite driver passes them). */
interface KeptStatement {
  readonly reader: boolean;
  all(parameters: readonly unknown[]): unknown[];
  run(parameters: readonly unknown[]): SqliteDatabase.RunResult;
  iterate(parameters: readonly unknown[]): IterableIterator<unknown>;
}

/**
 * Kysely prepares every query anew; preparing (parsing and planning) costs more than running a
 * small statement, and the same few statements run on every check, consume and batch. The
 * connection keeps them by SQL text instead. SQLite re-prepares a kept statement by itself when
 * the schema changes under it.
 *
 * Parameters reach better-sqlite3 as separate arguments, not as the one array Kysely hands over:
 * it reads an array through V8's API one element at a time, which cost more than binding the
 * value itself (about 1,300 instructions an element, a sixth of writing an event batch).
 *
 * A statement dropped from the cache needs no clean-up of ours: better-sqlite3 finalizes it when
 * it is garbage collected (or the connection closes), not while a caller still holds it.
 */
function withStatementCache(
  sqlite: SqliteDatabase.Database,
  options: { firstColumn?: boolean } = {},
): {
  close(): void;
  prepare(sql: string): KeptStatement;
} {
  const statements = new LRUCache<string, KeptStatement>({ max: statementCacheSize });
  return {
    close: () => sqlite.close(),
    prepare(sql: string) {
      let kept = statements.get(sql);
      if (kept) return kept;
      const statement = sqlite.prepare(sql);
      // Each row's first column (see `readColumnNow`).
      if (options.firstColumn && statement.reader) statement.pluck(true);
      kept = {
        reader: statement.reader,
        all: (parameters) => statement.all(...parameters),
        run: (parameters) => statement.run(...parameters),
        iterate: (parameters) => statement.iterate(...parameters),
      };
      statements.set(sql, kept);
      return kept;
    },
  };
}

function openPostgres(target: {
  url: string;
  schema?: string | undefined;
  poolSize?: number | undefined;
  migrationUrl?: string | undefined;
  timeouts: PostgresTimeouts;
  onConnectionError: (error: Error) => void;
}): DatabaseHandle {
  const { timeouts } = target;
  const pool = new pg.Pool({
    connectionString: target.url,
    max: target.poolSize ?? 10,
    // Sent when each connection starts, so they hold for every statement without a round trip;
    // the URL's own `?statement_timeout=`, `?lock_timeout=` or `?application_name=` win.
    statement_timeout: timeouts.statementMs,
    lock_timeout: timeouts.lockMs,
    connectionTimeoutMillis: timeouts.connectMs,
    application_name: 'keymaster',
    // An idle connection whose peer vanished without a reset (a failover, a dropped NAT entry)
    // is probed after 10 s rather than the system's default two hours, and dropped.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // Epoch-ms times are BIGINT; they fit a JS number exactly, so read them as numbers.
    types: {
      getTypeParser: (oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text'),
    },
    ...(target.schema ? { options: `-c search_path=${target.schema}` } : {}),
  });
  // A connection that fails emits 'error'; unheard, that ends the process. The pool removes an
  // idle one itself (and re-emits on the pool, heard here too); one in use fails its statement
  // in flight and is removed when released, as it is then no longer queryable. Either way the
  // next checkout opens a fresh connection.
  pool.on('error', () => {});
  pool.on('connect', (client) => {
    client.on('error', target.onConnectionError);
    preparing(client);
  });
  const db = new Kysely<Database>({ dialect: new KeymasterPostgresDialect({ pool }) });
  return {
    db,
    dialect: 'postgres',
    readNow: undefined,
    readColumnNow: undefined,
    sqliteFile: undefined,
    // One connection is all migrations take; in the same schema as the server's own.
    migrationTarget:
      target.migrationUrl === undefined
        ? undefined
        : { dialect: 'postgres', url: target.migrationUrl, schema: target.schema, poolSize: 1 },
    close: () => db.destroy(),
  };
}
