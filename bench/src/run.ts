import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchAlertsOverhead } from './alerts-overhead.js';
import { benchAuditOverhead } from './audit-overhead.js';
import { benchCheckInstructions } from './check-instructions.js';
import { benchCheckThroughput } from './check-throughput.js';
import { benchCheckWhileIngesting } from './check-while-ingesting.js';
import { benchConsumeThroughput } from './consume-throughput.js';
import { benchCustomerScale } from './customer-scale.js';
import { runDecideBench } from './decide-bench.js';
import { benchDecisionLogOverhead } from './decision-log-overhead.js';
import type { LoadSettings } from './http-load.js';
import { benchIngestInstructions } from './ingest-instructions.js';
import { benchIngestThroughput } from './ingest-throughput.js';
import { describeMachine } from './machine.js';
import { benchPropagation } from './propagation.js';
import { type BenchResults, toMarkdown, toText } from './report.js';
import { runSdkCheckBench } from './sdk-check.js';
import { databaseChoices } from './seeded-server.js';
import { round } from './stats.js';
import { benchUsageRevenueReport } from './usage-revenue-report.js';
import { benchWebhookDelivery } from './webhook-delivery.js';

const benchmarks = [
  'http',
  'decide',
  'sdk-check',
  'propagation',
  'scale',
  'ingest',
  'consume',
  'alerts',
  'audit',
  'decisions',
  'check-while-ingesting',
  'instructions',
  'webhooks',
  'report',
] as const;
type Benchmark = (typeof benchmarks)[number];

const usage = `Usage: npm run bench -- [--quick] [--only ${benchmarks.join(',')}] [--postgres <url>] [--profile]

  --quick    a short smoke run (2 s load runs, 10,000 customers at most); writes *.quick.*
  --only     run only the named benchmarks (default: all); writes *.partial.*
  --postgres also run ingest, consume, alerts, audit, decisions and report on PostgreSQL, each
             server in a fresh schema of this database (dropped afterwards), and propagation (two
             servers on one schema); default: BENCH_DATABASE_URL; without either, they run on
             SQLite only and propagation is skipped
  --profile  write a V8 CPU profile of every server under test to bench/profiles/

A full run writes bench/results.json and bench/RESULTS.md.`;

const args = process.argv.slice(2);
const { values } = parseArgs({
  args,
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    postgres: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const only = values.only ? values.only.split(',').map((s) => s.trim()) : [...benchmarks];
const unknown = only.filter((name) => !benchmarks.includes(name as Benchmark));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}\n\n${usage}`);
  process.exit(2);
}
const selected = (name: Benchmark) => only.includes(name);
const quick = values.quick;
const postgresUrl = values.postgres || process.env.BENCH_DATABASE_URL || undefined;
if (postgresUrl && !/^postgres(ql)?:\/\//.test(postgresUrl)) {
  console.error(`--postgres must be a postgres:// URL\n\n${usage}`);
  process.exit(2);
}
// Servers under test get their database from the benchmark, never from the inherited environment.
delete process.env.BENCH_DATABASE_URL;

// One load shape for every HTTP measurement, subject and baseline alike.
const load: LoadSettings = quick
  ? { connections: 50, pipelining: 10, durationSeconds: 2, warmupSeconds: 1 }
  : { connections: 50, pipelining: 10, durationSeconds: 10, warmupSeconds: 2 };
const settings = {
  load,
  http: { customers: quick ? 200 : 1_000 },
  decide: quick
    ? { calls: 500_000, resolveCalls: 50_000, batches: 100, warmupCalls: 50_000 }
    : { calls: 5_000_000, resolveCalls: 500_000, batches: 500, warmupCalls: 500_000 },
  sdkCheck: quick
    ? { customers: 10_000, calls: 2_000_000, batches: 200 }
    : { customers: 10_000, calls: 20_000_000, batches: 1000 },
  propagation: { changes: quick ? 40 : 100, timeoutMs: 5_000, maxPauseMs: 100 },
  scale: quick
    ? { small: 1_000, large: 10_000, checked: 200, coldProbes: 100, latencySeconds: 1 }
    : { small: 1_000, large: 100_000, checked: 500, coldProbes: 250, latencySeconds: 5 },
  ingest: {
    customers: quick ? 200 : 1_000,
    batchSize: 1_000,
    duplicateShare: 0.9,
    load: quick
      ? { clients: 4, durationSeconds: 3, warmupSeconds: 1 }
      : { clients: 4, durationSeconds: 10, warmupSeconds: 2 },
  },
  // Consumes are writes: no pipelining (a hot row on PostgreSQL would queue 500 requests deep).
  consume: { customers: quick ? 200 : 1_000, load: { ...load, pipelining: 1 } },
  alerts: { customers: quick ? 200 : 1_000, endpoints: 2, variantRounds: quick ? 1 : 2 },
  // audit: writes, under the consume load (no pipelining); decisions: checks, under `load`.
  audit: { customers: quick ? 200 : 1_000, variantRounds: quick ? 1 : 2 },
  decisions: { customers: quick ? 200 : 1_000, variantRounds: quick ? 1 : 2 },
  checkWhileIngesting: { customers: quick ? 200 : 1_000, batchSize: 1_000, batchesPerSecond: 10 },
  instructions: quick
    ? { customers: 20, requests: 2_000, warmupRequests: 2_000 }
    : { customers: 50, requests: 10_000, warmupRequests: 5_000 },
  ingestInstructions: quick
    ? { customers: 200, batchSize: 1_000, batches: 4, warmupBatches: 6 }
    : { customers: 1_000, batchSize: 1_000, batches: 20, warmupBatches: 20 },
  webhooks: quick ? { events: 2_000, endpoints: 2 } : { events: 10_000, endpoints: 2 },
  report: quick ? { customers: 5_000, repeats: 2 } : { customers: 100_000, repeats: 2 },
  postgres: postgresUrl ? 'yes (--postgres or BENCH_DATABASE_URL)' : 'not measured: no --postgres URL',
};

// The command is written to the results: never a database password.
const shown = args.map((arg) => arg.replace(/^(postgres(?:ql)?:\/\/[^:@/]+:)[^@]*@/, '$1***@')).join(' ');
const command =
  process.env.npm_lifecycle_event === 'bench'
    ? `npm run bench${args.length > 0 ? ` -- ${shown}` : ''}`
    : `node bench/dist/run.js${args.length > 0 ? ` ${shown}` : ''}`;
const results: BenchResults = {
  command,
  quick,
  startedAt: new Date().toISOString(),
  machine: describeMachine(),
  loadAverageAtStart: round(loadavg()[0]!),
  settings,
};
if (results.loadAverageAtStart > 0.5) {
  console.error(`Warning: load average ${results.loadAverageAtStart} before the run: other work is using the cores.`);
}
const log = (line: string) => console.error(`  ${line}`);
const profiles = fileURLToPath(new URL('../profiles', import.meta.url));
const serverExecArgv = values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`] : [];

if (selected('http')) {
  console.error('HTTP check throughput vs bare node:http');
  results.checkThroughput = await benchCheckThroughput({
    settings: load,
    customers: settings.http.customers,
    serverExecArgv,
    log,
  });
}
if (selected('decide')) {
  console.error('In-process decide and resolve');
  results.decide = runDecideBench(settings.decide);
}
if (selected('sdk-check')) {
  console.error('SDK local check, customers cached');
  results.sdkCheck = await runSdkCheckBench(settings.sdkCheck);
}
if (selected('propagation')) {
  if (postgresUrl) {
    console.error('SDK propagation: a change through server A seen by an SDK streaming from server B');
    results.propagation = await benchPropagation({ postgresUrl, ...settings.propagation, serverExecArgv, log });
  } else {
    console.error('No PostgreSQL URL (--postgres or BENCH_DATABASE_URL): propagation (two servers) is skipped.');
  }
}
if (selected('scale')) {
  console.error(`Check vs customers stored (${settings.scale.small} vs ${settings.scale.large})`);
  results.customerScale = await benchCustomerScale({ settings: load, ...settings.scale, serverExecArgv, log });
}

const bothDatabases = ['ingest', 'consume', 'alerts', 'audit', 'decisions', 'report'] as const;
if (!postgresUrl && bothDatabases.some(selected)) {
  console.error(
    `No PostgreSQL URL (--postgres or BENCH_DATABASE_URL): ${bothDatabases.filter(selected).join(', ')} run on SQLite only.`,
  );
}
if (selected('ingest')) {
  console.error('Event ingestion, 1,000-event batches');
  const { load: ingestLoad, ...ingest } = settings.ingest;
  results.ingest = await benchIngestThroughput({
    ...ingest,
    settings: ingestLoad,
    targets: databaseChoices(postgresUrl),
    serverExecArgv,
    log,
  });
}
if (selected('consume')) {
  console.error('Consume throughput, one hot customer and many');
  results.consume = await benchConsumeThroughput({
    settings: settings.consume.load,
    customers: settings.consume.customers,
    targets: databaseChoices(postgresUrl),
    serverExecArgv,
    log,
  });
}
if (selected('alerts')) {
  console.error(
    `Check and consume throughput with alert rules and ${settings.alerts.endpoints} webhook endpoints vs none`,
  );
  results.alertsOverhead = await benchAlertsOverhead({
    checkSettings: load,
    consumeSettings: settings.consume.load,
    ...settings.alerts,
    targets: databaseChoices(postgresUrl),
    serverExecArgv,
    log,
  });
}
if (selected('audit')) {
  console.error('A write route (PUT /v1/customers/{id}) with its audit row vs without');
  results.auditOverhead = await benchAuditOverhead({
    settings: settings.consume.load,
    ...settings.audit,
    targets: databaseChoices(postgresUrl),
    serverExecArgv,
    log,
  });
}
if (selected('decisions')) {
  console.error('Check throughput, half the checks denied, with the denials logged vs logging off');
  results.decisionLogOverhead = await benchDecisionLogOverhead({
    settings: load,
    ...settings.decisions,
    targets: databaseChoices(postgresUrl),
    serverExecArgv,
    log,
  });
}
if (selected('check-while-ingesting')) {
  console.error('Check throughput while ingesting');
  results.checkWhileIngesting = await benchCheckWhileIngesting({
    settings: load,
    ...settings.checkWhileIngesting,
    serverExecArgv,
    log,
  });
}

if (selected('instructions')) {
  console.error('HTTP check instructions per request vs bare node:http (callgrind)');
  results.checkInstructions = await benchCheckInstructions({ ...settings.instructions, log });
  console.error('Event ingestion instructions per event, by thread (callgrind)');
  results.ingestInstructions = await benchIngestInstructions({ ...settings.ingestInstructions, log });
}

if (selected('webhooks')) {
  console.error('Outbound webhook deliveries per second to a local receiver (SQLite)');
  results.webhooks = await benchWebhookDelivery({ ...settings.webhooks, log });
}

if (selected('report')) {
  console.error(
    `Usage-vs-revenue report over ${settings.report.customers.toLocaleString('en')} customers, one quarter`,
  );
  results.usageRevenueReport = await benchUsageRevenueReport({
    ...settings.report,
    targets: databaseChoices(postgresUrl),
    serverExecArgv,
    log,
  });
}

console.log(`\n${toText(results)}\n`);
// Only a full run of everything replaces the published figures; other runs keep theirs apart.
const stem = quick ? '.quick' : only.length < benchmarks.length || values.profile ? '.partial' : '';
const name = `results${stem}`;
const markdown = `RESULTS${stem}.md`;
writeFileSync(new URL(`../${name}.json`, import.meta.url), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(new URL(`../${markdown}`, import.meta.url), toMarkdown(results));
console.log(`Wrote bench/${name}.json and bench/${markdown}.`);
if (values.profile) console.log(`Server CPU profiles: ${profiles} (open in Chrome DevTools or speedscope).`);
