#!/usr/bin/env node
import { createReadStream, createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ContractCreate,
  DecisionsQuery,
  GaugeUpdate,
  type LoggedDecision,
  maxEventsPerRequest,
  NotificationEmailListQuery,
  UsageHistoryQuery,
} from '@keymaster/contract';
import { Command, Option } from 'commander';
import pino from 'pino';
import { manualClock, systemClock } from './clock.js';
import { type Config, loadConfig } from './config.js';
import { openDatabase } from './db/database.js';
import { migrateToLatest } from './db/migrate.js';
import { parseJson } from './http/json-body.js';
import { type AjvError, schemaError, validationProblem } from './http/problems.js';
import { bodyValidator } from './http/validation.js';
import { registerKeyCommands } from './modules/api-keys/commands.js';
import { registerAuditCommands } from './modules/audit/commands.js';
import { sealAudit } from './modules/audit/trail.js';
import { createBillingSource } from './modules/billing/service.js';
import { formatCatalogFile, parseCatalogFile } from './modules/catalog/catalog-file.js';
import { createCatalogService, describeChange } from './modules/catalog/service.js';
import { createContractService } from './modules/contracts/service.js';
import { registerTokenSecretCommands } from './modules/customer-tokens/commands.js';
import { createCustomerService } from './modules/customers/service.js';
import { listDecisions, toApiDecisionRow } from './modules/decisions/store.js';
import { toApiEntitlements } from './modules/entitlements/convert.js';
import { entitlementsOver } from './modules/entitlements/over-database.js';
import { localBatchWriter, previewBatchWriter } from './modules/events/batch-writer.js';
import { importEventLines } from './modules/events/import-lines.js';
import { cachedEventService } from './modules/events/ingester.js';
import { parseFlagdFile } from './modules/flags/flagd-file.js';
import { createFlagsService } from './modules/flags/service.js';
import { createGaugeService } from './modules/gauges/service.js';
import { createRollover } from './modules/grants/rollover.js';
import { toApiNotificationEmail } from './modules/notifications/convert.js';
import { createNotificationService } from './modules/notifications/service.js';
import { registerReportCommands } from './modules/reports/commands.js';
import { createReportService } from './modules/reports/service.js';
import { createUsageRevenueReport } from './modules/reports/usage-revenue.js';
import { toApiUsageHistory } from './modules/usage-history/convert.js';
import { createHistoryService } from './modules/usage-history/service.js';
import { registerUserCommands } from './modules/users/commands.js';
import { printTable } from './print-table.js';
import { version } from './version.js';

function config(): Config {
  return loadConfig(process.env);
}

/** Opens the configured database (migrated), runs `work`, closes it. */
async function withDatabase<T>(work: (db: ReturnType<typeof openDatabase>) => Promise<T>): Promise<T> {
  const settings = config();
  const database = openDatabase(settings.database, { postgresTimeouts: settings.postgresTimeouts });
  try {
    await migrateToLatest(database);
    return await work(database);
  } finally {
    // The command's changes join the audit chain before it exits (a server would seal them too).
    await sealAudit(database.db).catch(() => undefined);
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
    // Loaded here: the server (Fastify, every route) is what the other commands do without.
    const { serve } = await import('./serve.js');
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
    // Not through `withDatabase`, which migrates first and would leave this nothing to report.
    const settings = config();
    const database = openDatabase(settings.database, { postgresTimeouts: settings.postgresTimeouts });
    const { results } = await migrateToLatest(database).finally(() => database.close());
    const applied = results ?? [];
    console.log(
      applied.length === 0 ? 'Already up to date.' : applied.map((r) => `${r.status}: ${r.migrationName}`).join('\n'),
    );
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

const contracts = program.command('contracts').description('Signed contracts (CRM deals) provision subscriptions.');
contracts
  .command('apply')
  .description(
    'Apply a contract from a JSON file (the body of POST /v1/contracts), as the API does: the same revision ' +
      'again changes nothing, a lower one is refused. Prints the answer.',
  )
  .argument('<file>', 'a JSON file: {customer, plan, add_ons?, grants?, starts_at?, ends_at, on_ends_at?, source}')
  .option('--dry-run', 'print what would change and change nothing')
  .action(async (file: string, options: { dryRun?: boolean }) => {
    const text = readFileSync(file, 'utf8');
    const validated = bodyValidator(ContractCreate)(parseJson(text), text);
    if (validated.error) throw schemaError(validated.error.validation, 'body');
    const answer = await withDatabase(async ({ db, dialect }) => {
      const billing = createBillingSource({ db, dialect, clock: systemClock });
      return createContractService({ db, clock: systemClock, billing }).apply({
        body: validated.value as ContractCreate,
        dryRun: options.dryRun ?? false,
      });
    });
    console.log(JSON.stringify(answer.contract, null, 2));
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

const customers = program.command('customers').description('Customers: GDPR export.');
customers
  .command('export')
  .description(
    'Write everything held about a customer as one JSON document, the same as GET /v1/customers/{id}/export ' +
      '(see docs/privacy.md). Exits 1 for an unknown customer, writing nothing.',
  )
  .argument('<id>', 'the customer id')
  .option('-o, --output <file>', 'write to a file instead of stdout')
  .action(async (id: string, options: { output?: string }) => {
    await withDatabase(async ({ db }) => {
      const document = await createCustomerService({ db, clock: systemClock }).export(id);
      if (options.output) await pipeline(Readable.from(document), createWriteStream(options.output));
      else await pipeline(Readable.from(document), process.stdout, { end: false });
    });
  });

const events = program.command('events').description('Usage events.');
events
  .command('import')
  .description(
    'Ingest events from a JSON Lines file (one event a line; - reads stdin), in batches, as POST /v1/events ' +
      'does: a backfill. Idempotent by event id: run it again and what was stored counts as duplicates. ' +
      'Exits 1 when any line was rejected (the rest are stored).',
  )
  .argument('<file>', 'a .jsonl / .ndjson file, or - for stdin')
  .option('--cloudevents', 'each line is a CloudEvent (structured JSON) rather than {id, customer, type, ...}')
  .option('--dry-run', 'read and check every line, count what would be stored and what is already; write nothing')
  .addOption(
    new Option('--batch-size <n>', 'events a transaction')
      .default(maxEventsPerRequest)
      .argParser((value) => Number(value)),
  )
  .action(async (file: string, options: { cloudevents?: boolean; dryRun?: boolean; batchSize: number }) => {
    const settings = config();
    const summary = await withDatabase(async (database) => {
      const { cache } = entitlementsOver({ database, clock: systemClock, config: settings });
      const service = cachedEventService({
        cache,
        db: database.db,
        readNow: database.readNow,
        writer: options.dryRun ? previewBatchWriter(database.db) : localBatchWriter(database.db, database.dialect),
        clock: systemClock,
      });
      const input = file === '-' ? process.stdin : createReadStream(file);
      return importEventLines({
        lines: createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY }),
        format: options.cloudevents ? 'cloudevents' : 'keymaster',
        batchSize: options.batchSize,
        ingest: (batch) => service.ingest(batch),
        onBatch: (soFar) => {
          if (process.stderr.isTTY) process.stderr.write(`\r${soFar.events} events read`);
        },
      });
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    for (const { line, error } of summary.rejected) console.log(`line ${line}: ${error}`);
    const stored = options.dryRun ? 'would be stored' : 'accepted';
    console.log(
      `${summary.events} events: ${summary.accepted} ${stored}, ${summary.duplicates} duplicates, ` +
        `${summary.rejected.length} rejected.${options.dryRun ? ' (dry run: nothing written)' : ''}`,
    );
    if (summary.rejected.length > 0) process.exitCode = 1;
  });

const usage = program.command('usage').description("A customer's usage: balances, and gauge levels.");
usage
  .command('show')
  .description(
    'Usage, limit, balance and next reset of each metered feature and gauge of a customer, as check reports them.',
  )
  .argument('<customer>', 'the customer id')
  .option('--json', 'print the entitlements document of GET /v1/customers/{id}/entitlements instead')
  .action(async (customer: string, options: { json?: boolean }) => {
    const settings = config();
    await withDatabase(async (database) => {
      const { entitlements } = entitlementsOver({ database, clock: systemClock, config: settings });
      const { resolved, now, decisions } = await entitlements.snapshot(customer);
      if (options.json) {
        const document = toApiEntitlements({ resolved, now, decisionOf: (feature) => decisions.get(feature)! });
        console.log(JSON.stringify(document, null, 2));
        return;
      }
      const rows = [...decisions.values()]
        .filter((d) => d.type === 'metered' || d.type === 'gauge')
        .map((d) => [
          d.feature,
          d.type ?? '',
          String(d.usage ?? 0),
          d.unlimited ? 'unlimited' : String(d.limit ?? '-'),
          d.balance === null ? '-' : String(d.balance),
          d.resetsAt === null ? '-' : new Date(d.resetsAt).toISOString(),
          d.reason,
        ]);
      if (rows.length === 0) {
        console.log(`${customer} has no metered features or gauges.`);
        return;
      }
      printTable(['feature', 'type', 'usage', 'limit', 'balance', 'resets at', 'reason'], rows);
    });
  });
usage
  .command('set')
  .description(
    'Set a gauge (seats, projects, storage) to a level, or move it by --delta, as POST /v1/customers/{id}/usage does.',
  )
  .argument('<customer>', 'the customer id')
  .argument('<feature>', 'a gauge feature')
  .option('--set <level>', 'the new level', Number)
  .option('--delta <change>', 'a change to the level: 1 adds one, -1 removes one', Number)
  .action(async (customer: string, feature: string, options: { set?: number; delta?: number }) => {
    const body = { feature, ...options };
    const validated = bodyValidator(GaugeUpdate)(body);
    if (validated.error) throw validationError(validated.error.validation);
    const level = await withDatabase(({ db }) =>
      createGaugeService({ db, clock: systemClock }).setGauge({ customerId: customer, body: body as GaugeUpdate }),
    );
    console.log(`${customer} ${feature}: ${level}`);
  });

usage
  .command('history')
  .description(
    "A metered feature's usage in UTC hour or day buckets, as GET /v1/customers/{id}/usage answers; " +
      'without --from and --to, the current usage period (its total is what check reports).',
  )
  .argument('<customer>', 'the customer id')
  .argument('<feature>', 'a metered feature')
  .option('--from <time>', 'ISO-8601 start (rounded down to a bucket)')
  .option('--to <time>', 'ISO-8601 end, exclusive (rounded up to a bucket)')
  .addOption(new Option('--granularity <unit>', 'bucket size').choices(['hour', 'day']))
  .option('--json', 'print the API document instead')
  .action(
    async (
      customer: string,
      feature: string,
      options: { from?: string; to?: string; granularity?: 'hour' | 'day'; json?: boolean },
    ) => {
      const { json, ...range } = options;
      const query = { feature, ...range };
      const validated = bodyValidator(UsageHistoryQuery)(query);
      if (validated.error) throw validationError(validated.error.validation);
      const settings = config();
      const history = await withDatabase(async (database) => {
        const { snapshot } = entitlementsOver({ database, clock: systemClock, config: settings });
        const service = createHistoryService({ db: database.db, clock: systemClock, snapshot });
        return toApiUsageHistory(await service.read({ customerId: customer, ...query }));
      });
      if (json) {
        console.log(JSON.stringify(history, null, 2));
        return;
      }
      printTable(
        ['start', 'end', 'usage'],
        history.buckets.map((bucket) => [bucket.start, bucket.end, String(bucket.usage)]),
      );
      console.log(`${history.aggregation} over ${history.from} to ${history.to}: ${history.total}`);
    },
  );

const emails = program
  .command('emails')
  .description('Notification emails (KEYMASTER_SMTP_URL; see docs/notifications.md#email).');
emails
  .command('list')
  .description(
    "A customer's notification emails, newest first, as GET /v1/customers/{id}/emails answers: to whom, " +
      'the subject, and whether each was sent, waits for a retry or failed (and why).',
  )
  .argument('<customer>', 'the customer id')
  .option('--limit <n>', 'how many, 1-100', (value) => Number(value), 20)
  .option('--json', 'print the API documents instead')
  .action(async (customer: string, options: { limit: number; json?: boolean }) => {
    const validated = bodyValidator(NotificationEmailListQuery)({ limit: options.limit });
    if (validated.error) throw validationError(validated.error.validation);
    const rows = await withDatabase(({ db }) =>
      createNotificationService({ db, clock: systemClock }).listEmails({
        customer,
        before: undefined,
        limit: options.limit,
      }),
    );
    const list = rows.map(toApiNotificationEmail);
    if (options.json) {
      console.log(JSON.stringify(list, null, 2));
      return;
    }
    printTable(
      ['created', 'type', 'to', 'status', 'attempts', 'subject', 'last error'],
      list.map((e) => [
        e.created_at,
        e.type,
        e.to,
        e.status === 'pending' && e.attempts > 0 ? `pending (retry at ${e.next_attempt_at})` : e.status,
        String(e.attempts),
        e.subject,
        e.last_error ?? '-',
      ]),
    );
  });

program
  .command('decisions')
  .description(
    'Decisions the decision log kept (each feature’s decision_log: refusals by default), newest first, with ' +
      'which layer decided, as GET /v1/decisions answers: "why was acme denied at 10:32?".',
  )
  .option('--customer <id>', 'only this customer')
  .option('--feature <key>', 'only this feature')
  .option('--from <time>', 'ISO-8601 time, inclusive')
  .option('--to <time>', 'ISO-8601 time, exclusive')
  .addOption(new Option('--allowed <answer>', 'only allowed (true) or refused (false) ones').choices(['true', 'false']))
  .option('--limit <n>', 'how many, 1-100', (value) => Number(value), 20)
  .option('--json', 'print the API documents instead')
  .action(
    async (options: {
      customer?: string;
      feature?: string;
      from?: string;
      to?: string;
      allowed?: 'true' | 'false';
      limit: number;
      json?: boolean;
    }) => {
      const { json, allowed, ...rest } = options;
      const query = { ...rest, ...(allowed !== undefined ? { allowed: allowed === 'true' } : {}) };
      const validated = bodyValidator(DecisionsQuery)(query);
      if (validated.error) throw validationError(validated.error.validation);
      const rows = await withDatabase(({ db }) =>
        listDecisions(db, { query, before: undefined, limit: options.limit }),
      );
      const list = rows.slice(0, options.limit).map(toApiDecisionRow);
      if (json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      printTable(
        ['at', 'customer', 'feature', 'kind', 'answer', 'quantity', 'usage/limit', 'decided by'],
        list.map((d) => [
          d.at,
          d.customer,
          d.feature,
          d.kind,
          d.allowed ? 'allowed' : d.reason,
          d.quantity === null ? '-' : String(d.quantity),
          d.usage === null ? '-' : `${d.usage}/${d.limit ?? '-'}`,
          decidedBy(d),
        ]),
      );
    },
  );

/** A decision's provenance in a few words: `plan pro v3`, `grant grt_…`, `kill switch`. */
function decidedBy(d: LoggedDecision): string {
  const { source, plan, grants } = d.provenance;
  if (source === 'kill_switch') return 'kill switch';
  if (source === 'grant') return `grant ${grants.join(', ')}`;
  if ((source === 'plan' || source === 'addon') && plan) return `${source} ${plan.key} v${plan.version ?? '?'}`;
  return source ?? d.provenance.denial ?? '-';
}

registerAuditCommands({ program, config, withDatabase });
registerUserCommands({ program, withDatabase });
registerKeyCommands({ program, withDatabase });
registerTokenSecretCommands({ program, config, withDatabase });

registerReportCommands({
  program,
  withDatabase,
  validationError,
  reportsOn: (database) => {
    const { cache } = entitlementsOver({ database, clock: systemClock, config: config() });
    const usageRevenue = createUsageRevenueReport({
      db: database.db,
      clock: systemClock,
      catalog: () => cache.getCatalog(),
    });
    const reports = createReportService({
      db: database.db,
      dialect: database.dialect,
      clock: systemClock,
      usageRevenue,
    });
    return { usageRevenue, reports };
  },
});

/** Stripe in, on an open database: through the same billing seam as the webhook. */
async function stripeServiceOn(database: ReturnType<typeof openDatabase>, settings: Config) {
  const [{ createStripeService }, { stripeApi }] = await Promise.all([
    import('./modules/integrations/stripe/service.js'),
    import('./modules/integrations/stripe/stripe-api.js'),
  ]);
  const { cache } = entitlementsOver({ database, clock: systemClock, config: settings });
  const rollover = createRollover({ catalog: () => cache.getCatalog() });
  const { apiKey, apiBase } = settings.stripe;
  return createStripeService({
    db: database.db,
    clock: systemClock,
    billing: createBillingSource({
      db: database.db,
      dialect: database.dialect,
      clock: systemClock,
      onRenewal: rollover,
    }),
    api: apiKey === undefined ? undefined : stripeApi({ apiKey, base: apiBase }),
    logger: pino({ level: settings.logLevel }, pino.destination(2)),
  });
}

const stripe = program
  .command('stripe')
  .description('Stripe in: replay a received event, reconcile every subscription.');
stripe
  .command('replay')
  .description(
    'Apply a received Stripe event again (a failed one, or one ignored before its product had a plan), as ' +
      'the webhook would have; prints what became of it.',
  )
  .argument('<event>', "Stripe's event id (evt_…), as GET /v1/integrations/stripe/events lists it")
  .action(async (eventId: string) => {
    const settings = config();
    const result = await withDatabase(async (database) => (await stripeServiceOn(database, settings)).replay(eventId));
    console.log(`${result.event}: ${result.outcome}${result.detail ? ` (${result.detail})` : ''}`);
    if (result.outcome === 'failed') process.exitCode = 1;
  });
stripe
  .command('sync')
  .description(
    'Reconcile every Stripe subscription with Keymaster once, as Stripe has it now: for a first install, ' +
      'and after an outage. Needs KEYMASTER_STRIPE_API_KEY.',
  )
  .option('--dry-run', 'print what it would do, change nothing')
  .action(async (options: { dryRun?: boolean }) => {
    const settings = config();
    if (settings.stripe.apiKey === undefined) {
      console.error('keymaster stripe sync needs KEYMASTER_STRIPE_API_KEY (read access to subscriptions).');
      process.exitCode = 1;
      return;
    }
    const dryRun = options.dryRun ?? false;
    const counts = new Map<string, number>();
    await withDatabase(async (database) => {
      for await (const result of (await stripeServiceOn(database, settings)).sync({ dryRun })) {
        const outcome = dryRun && result.outcome === 'applied' ? 'would apply' : result.outcome;
        counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
        const detail = result.detail ? ` (${result.detail})` : '';
        console.log(`${result.subscription} → ${result.customer ?? '-'}: ${outcome}${detail}`);
      }
    });
    const summary = [...counts].map(([outcome, n]) => `${n} ${outcome}`).join(', ') || 'no subscriptions';
    console.log(`${summary}.${dryRun ? ' (dry run: nothing written)' : ''}`);
  });

/** Options refused by the API's own schema, with the same messages, for the error printer below. */
function validationError(errors: AjvError[]): Error {
  const problem = validationProblem(errors, 'body');
  const fields = (problem.errors ?? []).map((e) => ({
    path: e.path.replace(/^\/?/, '--').replace('/', ''),
    message: e.message,
  }));
  return Object.assign(new Error('invalid options'), { errors: fields });
}

program.parseAsync().catch((error: unknown) => {
  const details = (error as { errors?: { path: string; message: string }[] }).errors;
  const message = error instanceof Error ? error.message : String(error);
  console.error(`keymaster: ${message}`);
  // A domain error's message already lists its fields when there is one.
  for (const e of details ?? []) if (!message.includes(e.message)) console.error(`  ${e.path}: ${e.message}`);
  process.exit(1);
});
