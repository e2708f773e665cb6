#!/usr/bin/env node
import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { manualClock, systemClock } from './clock.js';
import { type Config, loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { createApiKeyService, toApiKey } from './modules/api-keys/service.js';
import { formatCatalogFile, parseCatalogFile } from './modules/catalog/catalog-file.js';
import { createCatalogService, describeChange } from './modules/catalog/service.js';
import { parseFlagdFile } from './modules/flags/flagd-file.js';
import { createFlagsService } from './modules/flags/service.js';
import { version } from './runtime.js';
import { serve } from './serve.js';

function config(): Config {
  return loadConfig(process.env);
}

/** Opens the configured database (migrated), runs `work`, closes it. */
async function withDatabase<T>(work: (db: ReturnType<typeof openDatabase>) => Promise<T>): Promise<T> {
  const database = openDatabase(config().database);
  try {
    await migrateToLatest(database);
    return await work(database);
  } finally {
    await database.close();
  }
}

const program = new Command()
  .name('keymaster')
  .description('Keymaster: entitlement management for SaaS. Configure with DATABASE_URL, KEYMASTER_DATA_DIR, PORT, ...')
  .version(version);

program
  .command('serve')
  .description('Start the HTTP server (migrates the database first).')
  .option('--demo', 'on an empty database, apply the demo catalog and demo customers')
  .action(async (options: { demo?: boolean }) => {
    const settings = config();
    // Simulated time starts at the real time and then moves only when told to.
    const clock = settings.testClock ? manualClock(Date.now()) : systemClock;
    const keymaster = await serve({ config: settings, clock, demo: options.demo ?? false });
    const stop = async () => {
      await keymaster.close();
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program
  .command('migrate')
  .description('Bring the database schema up to date, then exit.')
  .action(async () => {
    const { results } = await withDatabase((database) => migrateToLatest(database));
    const applied = results ?? [];
    console.log(
      applied.length === 0 ? 'Already up to date.' : applied.map((r) => `${r.status}: ${r.migrationName}`).join('\n'),
    );
  });

const keys = program.command('keys').description('Manage secret API keys.');
keys
  .command('create')
  .description('Create a secret key; the secret is printed once.')
  .option('--name <name>', 'what the key is for')
  .action(async (options: { name?: string }) => {
    await withDatabase(async ({ db }) => {
      const { key, secret } = await createApiKeyService({ db, clock: systemClock, adminKey: undefined }).create({
        name: options.name,
      });
      console.log(`Created ${key.id} (${key.prefix}…). Store the secret now; it is not shown again:\n\n  ${secret}\n`);
    });
  });
keys
  .command('list')
  .description('List keys by prefix.')
  .action(async () => {
    await withDatabase(async ({ db }) => {
      const rows = await createApiKeyService({ db, clock: systemClock, adminKey: undefined }).list({
        after: undefined,
        limit: 1000,
      });
      if (rows.length === 0) console.log('No keys.');
      for (const key of rows.map(toApiKey)) {
        const state = key.revoked_at ? `revoked ${key.revoked_at}` : `last used ${key.last_used_at ?? 'never'}`;
        console.log(`${key.id}  ${key.prefix}…  ${key.name ?? ''}  created ${key.created_at}  ${state}`);
      }
    });
  });
keys
  .command('revoke')
  .description('Revoke a key by id or prefix; every server refuses it within a second.')
  .argument('<id-or-prefix>')
  .action(async (idOrPrefix: string) => {
    await withDatabase(async ({ db }) => {
      const key = await createApiKeyService({ db, clock: systemClock, adminKey: undefined }).revoke(idOrPrefix);
      console.log(`Revoked ${key.id} (${key.prefix}…).`);
    });
  });

const catalog = program.command('catalog').description('Keep the catalog (features and plans) in a file, in git.');
catalog
  .command('export')
  .description('Write the features and published plans as YAML or JSON.')
  .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .action(async (options: { format: 'yaml' | 'json'; output?: string }) => {
    const text = await withDatabase(async ({ db }) =>
      formatCatalogFile({
        catalog: await createCatalogService({ db, clock: systemClock }).export(),
        format: options.format,
      }),
    );
    if (options.output) writeFileSync(options.output, text);
    else process.stdout.write(text);
  });
catalog
  .command('apply')
  .description('Create or update what differs from the file, publishing changed plans. Idempotent.')
  .argument('<file>', 'a catalog file (YAML or JSON)')
  .option('--dry-run', 'print what would change and change nothing')
  .action(async (file: string, options: { dryRun?: boolean }) => {
    const parsed = parseCatalogFile({ text: readFileSync(file, 'utf8'), name: file });
    await withDatabase(async ({ db }) => {
      const service = createCatalogService({ db, clock: systemClock });
      const result = options.dryRun ? await service.plan(parsed) : await service.apply(parsed);
      for (const change of result.changes) console.log(describeChange(change));
      const verb = options.dryRun ? 'would change' : 'changed';
      console.log(
        `${result.changes.length} ${verb}, ${result.unchanged} unchanged.${options.dryRun ? ' (dry run: nothing written)' : ''}`,
      );
    });
  });

const flags = program.command('flags').description('Import and export features as flagd flag definitions.');
flags
  .command('import')
  .description(
    'Create or update a feature per flag of a flagd file (boolean flags: boolean features; others: config). ' +
      'Idempotent, in one transaction; flags that cannot map are listed and skipped.',
  )
  .argument('<file>', 'a flagd flag-definition file (JSON)')
  .option('--dry-run', 'print what would change and change nothing')
  .action(async (file: string, options: { dryRun?: boolean }) => {
    const parsed = parseFlagdFile({ text: readFileSync(file, 'utf8'), name: file });
    await withDatabase(async ({ db }) => {
      const service = createFlagsService({ db, clock: systemClock });
      const result = options.dryRun ? await service.plan(parsed) : await service.import(parsed);
      for (const change of result.changes) console.log(describeChange(change));
      for (const { key, reason } of result.unmapped) console.log(`! flag ${key} skipped: ${reason}`);
      const verb = options.dryRun ? 'would change' : 'changed';
      console.log(
        `${result.changes.length} ${verb}, ${result.unchanged} unchanged, ${result.unmapped.length} skipped.` +
          (options.dryRun ? ' (dry run: nothing written)' : ''),
      );
    });
  });
flags
  .command('export')
  .description('Write the boolean and config features as a flagd flag-definition file (JSON).')
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .action(async (options: { output?: string }) => {
    const { file, unmapped } = await withDatabase(({ db }) => createFlagsService({ db, clock: systemClock }).export());
    for (const { key, reason } of unmapped) console.error(`! feature ${key} not exported: ${reason}`);
    const text = `${JSON.stringify(file, null, 2)}\n`;
    if (options.output) writeFileSync(options.output, text);
    else process.stdout.write(text);
  });

program.parseAsync().catch((error: unknown) => {
  const details = (error as { errors?: { path: string; message: string }[] }).errors;
  console.error(`keymaster: ${error instanceof Error ? error.message : String(error)}`);
  for (const e of details ?? []) console.error(`  ${e.path}: ${e.message}`);
  process.exit(1);
});
