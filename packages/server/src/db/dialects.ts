import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type LimitNode,
  PostgresDialect,
  PostgresQueryCompiler,
  type QueryCompiler,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  SqliteQueryCompiler,
  ValueNode,
} from 'kysely';

/**
 * Kysely's two dialects as Keymaster runs them. Both write a `.limit(n)` into the SQL text
 * instead of binding it. SQLite (3.51, as better-sqlite3 ships it) plans a statement around a
 * bound LIMIT's value, so such a statement is prepared again — parsed and planned — every time
 * it runs (about 50,000 instructions, more than a small read itself; seen under valgrind as
 * `sqlite3Reprepare` on every change-feed read). With the number in the text, the statement the
 * connection keeps (see `withStatementCache`) is reused: one per distinct limit. PostgreSQL does
 * the same so that a query takes the same parameters on both: `precompiled` keeps a query's SQL
 * text and binds only the values its caller passes.
 *
 * OFFSET has no such cost and stays bound, so paging far does not fill the statement cache with
 * a statement a page.
 */

/** A limit's row count when it is safe to write into SQL text: a whole number from 0 to 2^53. */
function literalRowCount(node: LimitNode): number | undefined {
  const { limit } = node;
  if (!ValueNode.is(limit) || limit.immediate) return undefined;
  const { value } = limit;
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

class KeymasterSqliteQueryCompiler extends SqliteQueryCompiler {
  protected override visitLimit(node: LimitNode): void {
    const count = literalRowCount(node);
    if (count === undefined) super.visitLimit(node);
    else this.append(`limit ${count}`);
  }
}

class KeymasterPostgresQueryCompiler extends PostgresQueryCompiler {
  protected override visitLimit(node: LimitNode): void {
    const count = literalRowCount(node);
    if (count === undefined) super.visitLimit(node);
    else this.append(`limit ${count}`);
  }
}

/**
 * SQLite with literal limits, and transactions that start as writers (BEGIN IMMEDIATE). A
 * deferred transaction that reads and then writes fails with SQLITE_BUSY at once when another
 * process wrote in between, without waiting for busy_timeout; taking the write lock up front
 * makes several processes on one file queue instead of failing.
 */
export class KeymasterSqliteDialect extends SqliteDialect {
  readonly #settings: SqliteDialectConfig;
  constructor(settings: SqliteDialectConfig) {
    super(settings);
    this.#settings = settings;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#settings);
  }
  override createQueryCompiler(): QueryCompiler {
    return new KeymasterSqliteQueryCompiler();
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/** PostgreSQL with literal limits. */
export class KeymasterPostgresDialect extends PostgresDialect {
  override createQueryCompiler(): QueryCompiler {
    return new KeymasterPostgresQueryCompiler();
  }
}
