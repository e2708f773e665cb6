import { type Migration, type MigrationProvider, type MigrationResultSet, Migrator, sql } from 'kysely';
import type { DatabaseHandle, Dialect } from './database.js';
import { initial } from './migrations/0001-initial.js';
import { events } from './migrations/0002-events.js';
import { usage } from './migrations/0003-usage.js';
import { consumptions } from './migrations/0004-consumptions.js';
import { reservations } from './migrations/0005-reservations.js';
import { credits } from './migrations/0008-credits.js';

/** Numbered migrations, in order. Add a file per change; never edit one that has shipped. */
function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001-initial': initial(dialect),
    '0002-events': events(),
    '0003-usage': usage(dialect),
    '0004-consumptions': consumptions(),
    '0005-reservations': reservations(),
    // 0006 and 0007 are taken by work on other branches; Kysely runs migrations in name order.
    '0008-credits': credits(dialect),
  };
}

class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations() {
    return migrations(this.dialect);
  }
}

/** Brings the schema up to date; safe to run concurrently from several processes (Kysely locks). */
export async function migrateToLatest(handle: DatabaseHandle): Promise<MigrationResultSet> {
  // Kysely looks for its bookkeeping tables in every schema unless told which one: name the
  // connection's own, or another application's (or test's) schema could be taken for ours.
  const schema =
    handle.dialect === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(handle.db)).rows[0]?.schema
      : undefined;
  const migrator = new Migrator({
    db: handle.db,
    provider: new StaticMigrationProvider(handle.dialect),
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(`Migration ${failed?.migrationName ?? ''} failed: ${String(result.error)}`, {
      cause: result.error,
    });
  }
  return result;
}
