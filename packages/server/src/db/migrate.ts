import { type Kysely, type Migration, type MigrationProvider, type MigrationResultSet, Migrator, sql } from 'kysely';
import { type DatabaseHandle, type Dialect, openDatabase } from './database.js';
import { initial } from './migrations/0001-initial.js';
import { events } from './migrations/0002-events.js';
import { usage } from './migrations/0003-usage.js';
import { consumptions } from './migrations/0004-consumptions.js';
import { reservations } from './migrations/0005-reservations.js';
import { usageScope } from './migrations/0006-usage-scope.js';
import { usageHistory } from './migrations/0007-usage-history.js';
import { credits } from './migrations/0008-credits.js';
import { lifecycle } from './migrations/0009-lifecycle.js';
import { customerTokens } from './migrations/0010-customer-tokens.js';
import { eventsIndex } from './migrations/0011-events-index.js';
import { featureDefaults } from './migrations/0012-feature-defaults.js';
import { usageBatches } from './migrations/0013-usage-batches.js';
import { idempotencyEffects } from './migrations/0014-idempotency-effects.js';
import { billing } from './migrations/0015-billing.js';
import { alertRules } from './migrations/0016-alert-rules.js';
import { stripe } from './migrations/0016-stripe.js';
import { webhooks } from './migrations/0016-webhooks.js';
import { auditEvents } from './migrations/0017-audit-events.js';
import { notifications } from './migrations/0018-notifications.js';
import { stripeEventCustomer } from './migrations/0019-stripe-event-customer.js';
import { noticeMarkers } from './migrations/0020-notice-markers.js';
import { notificationEmails } from './migrations/0020-notification-emails.js';
import { auditCheckpoints } from './migrations/0021-audit-checkpoints.js';
import { decisionLog } from './migrations/0022-decision-log.js';
import { reports } from './migrations/0023-reports.js';
import { auditPending } from './migrations/0024-audit-pending.js';
import { consoleUsers } from './migrations/0025-console-users.js';
import { userLinks } from './migrations/0026-user-links.js';
import { apiKeyScopes } from './migrations/0027-api-key-scopes.js';
import { mutedFeedCondition } from './migrations/0028-muted-feed-condition.js';
import type { Database } from './schema.js';

/**
 * Numbered migrations, run in the order of their names. Add a file per change; never edit one
 * that has shipped. A number may land after a database has run a later one (0008 did: databases
 * that ran 0009 before the credits branch merged), and then runs on the next start (see
 * `allowUnorderedMigrations`), so each migration must stand on its own, not on its predecessor.
 */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001-initial': initial(dialect),
    '0002-events': events(),
    '0003-usage': usage(dialect),
    '0004-consumptions': consumptions(),
    '0005-reservations': reservations(),
    '0006-usage-scope': usageScope(dialect),
    '0007-usage-history': usageHistory(),
    '0008-credits': credits(dialect),
    '0009-lifecycle': lifecycle(dialect),
    '0010-customer-tokens': customerTokens(),
    '0011-events-index': eventsIndex(),
    '0012-feature-defaults': featureDefaults(),
    '0013-usage-batches': usageBatches(dialect),
    '0014-idempotency-effects': idempotencyEffects(),
    '0015-billing': billing(),
    '0016-stripe': stripe(),
    '0017-audit-events': auditEvents(),
    '0016-webhooks': webhooks(),
    '0016-alert-rules': alertRules(dialect),
    '0018-notifications': notifications(),
    '0019-stripe-event-customer': stripeEventCustomer(),
    '0020-notice-markers': noticeMarkers(),
    '0022-decision-log': decisionLog(),
    '0020-notification-emails': notificationEmails(),
    '0021-audit-checkpoints': auditCheckpoints(),
    '0023-reports': reports(dialect),
    '0024-audit-pending': auditPending(dialect),
    '0025-console-users': consoleUsers(),
    '0026-user-links': userLinks(),
    '0027-api-key-scopes': apiKeyScopes(dialect),
    '0028-muted-feed-condition': mutedFeedCondition(dialect),
  };
}

class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly list: Record<string, Migration>) {}
  async getMigrations() {
    return this.list;
  }
}

/**
 * Brings the schema up to date; safe to run concurrently from several processes (Kysely locks).
 * Through the handle's `migrationTarget` when it has one: the role that owns the schema, where
 * the handle's own may only read and write rows (see docs/deployment.md#postgresql-roles).
 */
export async function migrateToLatest(
  handle: DatabaseHandle,
  input: { migrations?: Record<string, Migration> } = {},
): Promise<MigrationResultSet> {
  if (handle.migrationTarget) {
    const owner = openDatabase(handle.migrationTarget);
    try {
      return await migrateToLatest(owner, input);
    } finally {
      await owner.close();
    }
  }
  const list = input.migrations ?? migrations(handle.dialect);
  if (handle.dialect !== 'postgres') return migrate(handle.db, list, undefined);
  // A migration may rewrite a large table, and a node starting beside another waits on Kysely's
  // lock until that one's migrations are done: the bounds on request statements
  // (KEYMASTER_PG_STATEMENT_TIMEOUT_MS, KEYMASTER_PG_LOCK_TIMEOUT_MS) would fail either.
  return handle.db.connection().execute(async (db) => {
    await sql`set statement_timeout = 0`.execute(db);
    await sql`set lock_timeout = 0`.execute(db);
    try {
      // Kysely looks for its bookkeeping tables in every schema unless told which one: name the
      // connection's own, or another application's (or test's) schema could be taken for ours.
      const schema = (await sql<{ schema: string }>`select current_schema() as schema`.execute(db)).rows[0]?.schema;
      return await migrate(db, list, schema);
    } finally {
      // Back to the connection's own settings before the pool hands it to a request.
      await sql`reset statement_timeout`.execute(db);
      await sql`reset lock_timeout`.execute(db);
    }
  });
}

async function migrate(
  db: Kysely<Database>,
  list: Record<string, Migration>,
  schema: string | undefined,
): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: new StaticMigrationProvider(list),
    // A migration numbered below one already run (it was reserved on another branch and merged
    // later) is run rather than refused as "corrupted migrations".
    allowUnorderedMigrations: true,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  let result = await migrator.migrateToLatest();
  // Kysely finds its bookkeeping table by listing the tables of every schema in the database;
  // a schema another application (or a parallel test suite) drops during that listing makes
  // PostgreSQL answer "schema does not exist" for a schema that is not ours. Look again.
  // Likewise a table or column the listing found and then could not read (another schema's,
  // dropped or altered meanwhile): the error comes from Kysely's bookkeeping, not from one of our
  // migrations (none is named as failed), and running again is safe (each migration runs once).
  for (
    let attempt = 0;
    attempt < 5 && (isOtherSchemaDropped(result.error, schema) || isCatalogRace(result));
    attempt++
  ) {
    await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
    result = await migrator.migrateToLatest();
  }
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new Error(`Migration ${failed?.migrationName ?? ''} failed: ${String(result.error)}`, {
      cause: result.error,
    });
  }
  return result;
}

function isCatalogRace(result: MigrationResultSet): boolean {
  const code = (result.error as { code?: string } | undefined)?.code;
  if (code !== '42P01' && code !== '42703') return false;
  return !result.results?.some((r) => r.status === 'Error');
}

function isOtherSchemaDropped(error: unknown, ours: string | undefined): boolean {
  if (!(error instanceof Error) || (error as { code?: string }).code !== '3F000') return false;
  return ours === undefined || !error.message.includes(`"${ours}"`);
}
