import type { RoundsComparison, Side } from './ab-rounds.js';
import type { AlertsOverheadResult } from './alerts-overhead.js';
import type { AuditOverheadResult } from './audit-overhead.js';
import type { BatchLoadResult } from './batch-load.js';
import type { CheckInstructionsResult } from './check-instructions.js';
import type { CheckThroughputResult } from './check-throughput.js';
import type { CheckWhileIngestingResult } from './check-while-ingesting.js';
import type { ConsumeThroughputResult } from './consume-throughput.js';
import type { CustomerScaleResult, ScalePoint } from './customer-scale.js';
import type { DecideBenchResult } from './decide-bench.js';
import type { DecisionLogOverheadResult } from './decision-log-overhead.js';
import type { LoadResult, LoadSettings } from './http-load.js';
import type { IngestInstructionsResult } from './ingest-instructions.js';
import type { IngestPoint, IngestThroughputResult } from './ingest-throughput.js';
import type { Machine } from './machine.js';
import type { PropagationResult } from './propagation.js';
import type { SdkCheckResult } from './sdk-check.js';
import { round } from './stats.js';
import type { UsageRevenueReportResult } from './usage-revenue-report.js';
import { reportTargetSeconds } from './usage-revenue-report.js';
import type { WebhookDeliveryResult } from './webhook-delivery.js';

export interface BenchResults {
  command: string;
  quick: boolean;
  startedAt: string;
  machine: Machine;
  /** 1-minute load average before the run: well above 0 means other work was using the cores. */
  loadAverageAtStart: number;
  settings: { load: LoadSettings; [benchmark: string]: unknown };
  checkThroughput?: CheckThroughputResult;
  decide?: DecideBenchResult;
  sdkCheck?: SdkCheckResult;
  propagation?: PropagationResult;
  customerScale?: CustomerScaleResult;
  ingest?: IngestThroughputResult;
  consume?: ConsumeThroughputResult;
  alertsOverhead?: AlertsOverheadResult;
  auditOverhead?: AuditOverheadResult;
  decisionLogOverhead?: DecisionLogOverheadResult;
  checkWhileIngesting?: CheckWhileIngestingResult;
  checkInstructions?: CheckInstructionsResult;
  ingestInstructions?: IngestInstructionsResult;
  webhooks?: WebhookDeliveryResult;
  usageRevenueReport?: UsageRevenueReportResult;
}

/** Absolute targets from the spec (the metering ones are rates, not ratios). */
export const targets = {
  ingestSqlite: 100_000,
  /** PostgreSQL ingestion, as a share of the same batches stored through pg alone (pg-ingest-baseline.ts). */
  ingestPostgresBaseline: 0.5,
  consumeSqlite: 30_000,
  consumePostgresHot: 5_000,
  /** PostgreSQL consume over many customers, as a share of one hot customer's in the same run. */
  consumePostgresManyVsHot: 1,
  propagationP99Ms: 250,
  checkWhileIngesting: 0.9,
  webhooksPerSecond: 1_000,
  alertsOverhead: 0.95,
  auditOverhead: 0.9,
  decisionLogOverhead: 0.95,
} as const;

interface Table {
  title: string;
  header: string[];
  rows: string[][];
  note?: string;
}

const fmt = (value: number) => value.toLocaleString('en');
const pct = (value: number | null) => (value === null ? 'n/a' : `${fmt(value)}%`);

/** An HTTP load run's cells: req/s, p50 and p99 ms, server, loader and other CPU. */
function loadCells(r: LoadResult): string[] {
  return [
    fmt(r.requestsPerSecond),
    fmt(r.latencyMs.p50),
    fmt(r.latencyMs.p99),
    pct(r.serverCpuPercent),
    pct(r.loaderCpuPercent),
    pct(r.otherCpuPercent),
  ];
}

/**
 * An A/B benchmark's rows: its rounds in the order run (each named by `name`, with `extra` cells
 * after the load's), then the ratio, with the CPU per request under server CPU and the target last.
 */
function roundRows<R extends { server: Side; load: LoadResult }>(input: {
  rounds: readonly R[];
  name: (round: R) => string;
  extra: (round: R) => string[];
  /** The first cell of the ratio row. */
  ratioName: string;
  comparison: RoundsComparison;
  target: number;
}): string[][] {
  const { comparison } = input;
  const extraCells = input.rounds.length > 0 ? input.extra(input.rounds[0]!).length : 1;
  return [
    ...input.rounds.map((r) => [input.name(r), ...loadCells(r.load), ...input.extra(r)]),
    [
      `${input.ratioName}${comparison.ratios.length > 1 ? ` (mean of ${comparison.ratios.join(', ')})` : ''}`,
      `${comparison.ratio}`,
      '',
      '',
      `CPU/request ${comparison.cpuRatio}`,
      '',
      '',
      ...Array.from({ length: extraCells - 1 }, () => ''),
      `target >= ${input.target}`,
    ],
  ];
}

function tables(results: BenchResults): Table[] {
  const out: Table[] = [];
  const { load } = results.settings;
  const loadShape = `${load.connections} connections, pipelining ${load.pipelining}, ${load.warmupSeconds} s warm-up + ${load.durationSeconds} s`;
  const http = results.checkThroughput;
  if (http) {
    const row = (name: string, r: CheckThroughputResult['keymaster']) => [name, ...loadCells(r)];
    out.push({
      title: 'HTTP check throughput, warm cache',
      header: ['server', 'req/s', 'p50 ms', 'p99 ms', 'server CPU', 'loader CPU', 'other CPU'],
      rows: [
        row('keymaster POST /v1/check', http.keymaster),
        row('bare node:http, same body', http.baseline),
        ['ratio keymaster / bare', `${http.ratio}`, '', '', '', '', 'target >= 0.8'],
      ],
      note: `${loadShape}; ${fmt(http.customers)} cached customers in rotation; ${http.responseBytes}-byte answer.`,
    });
  }
  const counted = results.checkInstructions;
  if (counted) {
    out.push({
      title: 'HTTP check, instructions per request (callgrind)',
      header: ['server', 'instructions/request', 'all threads'],
      rows: [
        ['keymaster POST /v1/check', fmt(counted.keymasterPerRequest), fmt(counted.keymasterAllThreadsPerRequest)],
        ['bare node:http, same body', fmt(counted.baselinePerRequest), fmt(counted.baselineAllThreadsPerRequest)],
        [
          'ratio bare / keymaster',
          `${counted.ratio}`,
          `${round(counted.baselineAllThreadsPerRequest / counted.keymasterAllThreadsPerRequest)}`,
        ],
      ],
      note:
        `User-space instructions each server's main thread (the event loop) executed per request, counted by valgrind's callgrind over ` +
        `${fmt(counted.requests)} requests after ${fmt(counted.warmupRequests)} uncounted ones (10 connections, pipelining 10, ` +
        `${fmt(counted.customers)} customers in rotation). The same count whatever else the machine is doing; the kernel's share is not in it. ` +
        "All threads adds the garbage collector's helper threads and any JIT compiles in the window: it catches allocation costs the main thread does not show, and varies more.",
    });
  }
  const decide = results.decide;
  if (decide) {
    out.push({
      title: 'In-process core',
      header: ['case', 'calls', 'ns/call', 'batch p50 ns', 'batch p99 ns'],
      rows: decide.cases.map((c) => [c.name, fmt(c.calls), fmt(c.nsPerCall), fmt(c.batchP50Ns), fmt(c.batchP99Ns)]),
      note: `${decide.features} features, ${decide.plans} plans. Batch percentiles are over the per-call mean of each batch.`,
    });
  }
  const sdk = results.sdkCheck;
  if (sdk) {
    out.push({
      title: 'SDK local check',
      header: ['customers cached', 'calls', 'ns/call', 'batch p50 ns', 'batch p99 ns', 'bytes/customer'],
      rows: [
        [
          fmt(sdk.customers),
          fmt(sdk.calls),
          fmt(sdk.nsPerCall),
          fmt(sdk.batchP50Ns),
          fmt(sdk.batchP99Ns),
          fmt(sdk.bytesPerCustomer),
        ],
      ],
      note: 'Six features per customer; target p99 < 1,000 ns. Batch percentiles are over the per-call mean of each batch.',
    });
  }
  const propagation = results.propagation;
  if (propagation) {
    const p = propagation;
    const row = (from: string, s: PropagationResult['fromWriteMs']) => [
      from,
      fmt(p.changes),
      fmt(s.p50),
      fmt(s.p99),
      fmt(s.max),
      fmt(s.mean),
    ];
    out.push({
      title: 'SDK propagation, server A to an SDK streaming from server B (PostgreSQL)',
      header: ['measured from', 'changes', 'p50 ms', 'p99 ms', 'max ms', 'mean ms'],
      rows: [
        row('the write sent to A', p.fromWriteMs),
        row('A answered (committed)', p.fromAckMs),
        ...p.byKind.map((k) => [
          `write sent, ${k.kind}s only`,
          fmt(k.changes),
          fmt(k.fromWriteP50Ms),
          fmt(k.fromWriteP99Ms),
          '',
          '',
        ]),
      ],
      note:
        "Until the SDK's cached decision reflects the change (onChange, then check). Grants and plan changes " +
        `alternate, one at a time, over ${fmt(p.customers)} cached customers; server B polls the change feed every ` +
        `${fmt(p.feedPollMs)} ms; A answered the writes in p50 ${fmt(p.writeMs.p50)} / p99 ${fmt(p.writeMs.p99)} ms; ` +
        `${fmt(p.missed)} not seen within ${fmt(p.timeoutMs)} ms. Target p99 < ${fmt(targets.propagationP99Ms)} ms.`,
    });
  }
  const scale = results.customerScale;
  if (scale) {
    const row = (p: ScalePoint) => [
      fmt(p.storedCustomers),
      fmt(p.load.requestsPerSecond),
      fmt(p.warm.p50Us),
      fmt(p.warm.p99Us),
      fmt(p.cold.p50Us),
      fmt(p.cold.p99Us),
      pct(p.load.serverCpuPercent),
      pct(p.load.otherCpuPercent),
      fmt(p.seedSeconds),
    ];
    out.push({
      title: 'Check vs customers stored',
      header: [
        'customers',
        'req/s',
        'warm p50 µs',
        'warm p99 µs',
        'miss p50 µs',
        'miss p99 µs',
        'server CPU',
        'other CPU',
        'seed s',
      ],
      rows: [
        row(scale.small),
        row(scale.large),
        [
          'ratio large / small',
          `${scale.throughputRatio}`,
          `${scale.warmP50Ratio}`,
          `${scale.warmP99Ratio}`,
          `${scale.coldP50Ratio}`,
          '',
          '',
          '',
          '',
        ],
      ],
      note:
        `req/s: ${loadShape} over ${fmt(scale.small.checkedCustomers)} cached customers spread over all stored. ` +
        `warm: one request at a time on one connection (${fmt(scale.large.warm.samples)} samples at the large size). ` +
        `miss: first check of ${fmt(scale.large.cold.samples)} uncached customers, loaded from SQLite.`,
    });
  }
  const ingest = results.ingest;
  if (ingest) {
    const row = (name: string, r: BatchLoadResult, target: string) => [
      name,
      fmt(r.eventsPerSecond),
      fmt(r.accepted),
      fmt(r.duplicates),
      fmt(r.latencyMs.p50),
      fmt(r.latencyMs.p99),
      pct(r.serverCpuPercent),
      pct(r.loaderCpuPercent),
      pct(r.otherCpuPercent),
      target,
    ];
    const { settings } = ingest;
    out.push({
      title: 'Event ingestion, POST /v1/events',
      header: [
        'database, events',
        'events/s',
        'accepted',
        'duplicates',
        'p50 ms',
        'p99 ms',
        'server CPU',
        'loader CPU',
        'other CPU',
        'target',
      ],
      rows: ingest.points.flatMap((p) => [
        row(
          `${p.database}, ${ingestVariant(p)}`,
          p.load,
          p.database === 'sqlite' && p.variant === 'unique'
            ? `>= ${fmt(targets.ingestSqlite)}`
            : p.baseline
              ? `>= ${targets.ingestPostgresBaseline}× pg alone`
              : '',
        ),
        ...(p.baseline
          ? [
              [
                `pg alone, same batches (${ingestVariant(p)})`,
                fmt(Math.round(p.baseline.eventsPerSecond)),
                fmt(p.baseline.batches * ingest.batchSize),
                '0',
                '',
                '',
                '',
                '',
                '',
                `ratio ${baselineRatio(p)}`,
              ],
            ]
          : []),
      ]),
      note:
        `${fmt(ingest.batchSize)}-event batches over ${fmt(ingest.customers)} customers, every event counted by a meter; ` +
        `${settings.clients} concurrent clients, each sending its next batch when the last has answered; ` +
        `${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s. events/s = (accepted + duplicates) / s.`,
    });
  }
  const ingestCounted = results.ingestInstructions;
  if (ingestCounted) {
    out.push({
      title: 'Event ingestion, instructions per event (callgrind)',
      header: ['thread', 'instructions/event'],
      rows: [
        ['main (HTTP)', fmt(ingestCounted.mainThreadPerEvent)],
        ['planner (parsing, reading and metering, planning)', fmt(ingestCounted.plannerThreadPerEvent)],
        ['batch writer (SQLite transaction)', fmt(ingestCounted.writerThreadPerEvent)],
        ['all threads', fmt(ingestCounted.allThreadsPerEvent)],
      ],
      note:
        `Keymaster on SQLite under valgrind's callgrind: ${fmt(ingestCounted.batches)} batches of ${fmt(ingestCounted.batchSize)} new events ` +
        `counted after ${fmt(ingestCounted.warmupBatches)} uncounted ones, 2 clients, ${fmt(ingestCounted.customers)} customers in rotation. ` +
        'The busiest thread bounds the throughput. User space only.',
    });
  }
  const consume = results.consume;
  if (consume) {
    const versus = (database: string) => consume.manyVsHot?.find((m) => m.database === database)?.comparison;
    const target = (p: ConsumeThroughputResult['points'][number]) => {
      if (p.database === 'sqlite') return `>= ${fmt(targets.consumeSqlite)}`;
      if (p.customers === 1) return `>= ${fmt(targets.consumePostgresHot)}`;
      const comparison = versus(p.database);
      return `>= ${targets.consumePostgresManyVsHot}× hot${comparison ? `: ${comparison.ratio}×` : ''}`;
    };
    const row = (name: string, customers: string, r: LoadResult, target: string) => [
      name,
      customers,
      ...loadCells(r),
      target,
    ];
    out.push({
      title: 'Consume throughput, POST /v1/consume',
      header: ['database', 'customers', 'req/s', 'p50 ms', 'p99 ms', 'server CPU', 'loader CPU', 'other CPU', 'target'],
      rows: [
        ...consume.points.map((p) => row(p.database, fmt(p.customers), p.load, target(p))),
        row('bare node:http, same load', '', consume.baseline, ''),
        ...(consume.postgresAlone
          ? [
              [
                `pg alone, the same row work, ${consume.postgresAlone.perStatement} consumes a statement`,
                `1 / ${fmt(Math.max(...consume.points.map((p) => p.customers)))}`,
                `${consume.postgresAlone.hot.map(fmt).join(', ')} / ${consume.postgresAlone.many.map(fmt).join(', ')}`,
                '',
                '',
                '',
                '',
                '',
                `many ÷ hot ${consume.postgresAlone.ratio}×`,
              ],
            ]
          : []),
      ],
      note:
        `${consume.settings.connections} connections, no pipelining, ${load.warmupSeconds} s warm-up + ${load.durationSeconds} s a round; ` +
        'one unit per consume, every one allowed (limit raised by a grant, still enforced); many customers: each request the next one. ' +
        `Rounds alternate one hot customer and many (${consume.manyVsHot?.map((m) => m.rounds).join('/') ?? '?'} in all); the figures are their means, ` +
        `and many ÷ hot is each many round against the hot rounds either side: ${
          consume.manyVsHot?.map((m) => `${m.database} ${m.comparison.ratios.join(', ')}`).join('; ') ?? 'not measured'
        }.`,
    });
  }
  const alerting = results.alertsOverhead;
  if (alerting) {
    const count = (n: number | undefined) => (n === undefined ? '' : fmt(n));
    out.push({
      title: `Check and consume with ${alerting.rules} alert rules and ${alerting.endpoints} webhook endpoints vs none`,
      header: [
        'database, request, server',
        'req/s',
        'p50 ms',
        'p99 ms',
        'server CPU',
        'loader CPU',
        'other CPU',
        'alert firings',
        'deliveries received',
        'deliveries, whole round',
      ],
      rows: alerting.points.flatMap((p) =>
        roundRows({
          rounds: p.rounds,
          name: (r) =>
            `${p.database}, ${p.path}, ${r.server === 'baseline' ? 'no rules, no endpoints' : 'rules and endpoints'}`,
          extra: (r) => [count(r.firings), count(r.deliveredDuringLoad), count(r.deliveries)],
          ratioName: `${p.database}, ${p.path}: ratio`,
          comparison: p,
          target: targets.alertsOverhead,
        }),
      ),
      note:
        `Two servers seeded alike with ${fmt(alerting.customers)} customers on pro; the variant has ${alerting.rules} alert rules ` +
        '(percent, units and forecast_percent: 8 on api_calls, never met, 12 on exports from 5 units up, crossed as the run goes) and ' +
        `${alerting.endpoints} enabled webhook endpoints taking every event type at a local receiver. Rounds in the order run, a baseline on ` +
        "either side of each variant round; each ratio is the variant's req/s to the mean of those two. " +
        `check: ${alerting.settings.check.connections} connections, pipelining ${alerting.settings.check.pipelining}, over every customer (a read: it fires nothing); ` +
        `consume: ${alerting.settings.consume.connections} connections, no pipelining, one unit of api_calls per customer in rotation and of exports for one in ten; ` +
        `${alerting.settings.consume.warmupSeconds} s warm-up + ${alerting.settings.consume.durationSeconds} s each. ` +
        'Alert firings and deliveries received: during the measured run; deliveries, whole round: all the round caused, warm-up included, ' +
        'counted once they were answered (the next round waits for them). CPU/request: server CPU per request, variant ÷ baseline (above 1 is a cost).',
    });
  }
  const audited = results.auditOverhead;
  if (audited) {
    out.push({
      title: `${audited.route} with its audit row vs without`,
      header: [
        'database, server',
        'writes/s',
        'p50 ms',
        'p99 ms',
        'server CPU',
        'loader CPU',
        'other CPU',
        'audit rows',
      ],
      rows: audited.points.flatMap((p) =>
        roundRows({
          rounds: p.rounds,
          name: (r) => `${p.database}, ${r.server === 'baseline' ? 'audit rows off (benchmark switch)' : 'audit rows'}`,
          extra: (r) => [fmt(r.auditRows)],
          ratioName: `${p.database}: ratio`,
          comparison: p,
          target: targets.auditOverhead,
        }),
      ),
      note:
        `Two servers of the same build seeded alike with ${fmt(audited.customers)} customers on pro; the baseline runs with ` +
        'KEYMASTER_BENCHMARK_SKIP_AUDIT=true (a change skips its audit row: no insert, nothing to seal). ' +
        `Each request renames one customer (every customer in turn, a new name each time): one update and, on the variant, one audit row in its transaction, hash-chained by the server's sealer during the run. ` +
        `${audited.settings.connections} connections, no pipelining, ${audited.settings.warmupSeconds} s warm-up + ${audited.settings.durationSeconds} s each. ` +
        "Rounds in the order run, a baseline on either side of each variant round; each ratio is the variant's writes/s to the mean of those two. " +
        'Audit rows: appended during the measured run (the writes answered and the few in flight when it stopped). ' +
        'CPU/request: server CPU per write, variant ÷ baseline (above 1 is a cost). ' +
        `After the rounds the variant's chain verified: ${audited.points.map((p) => `${p.database} ${p.verified.ok ? `${fmt(p.verified.count)} rows, every link holds` : 'BROKEN'}`).join('; ')}.`,
    });
  }
  const decisionLog = results.decisionLogOverhead;
  if (decisionLog) {
    out.push({
      title: `Checks, half denied, with the denials of ${decisionLog.feature} logged vs not`,
      header: [
        'database, server',
        'req/s',
        'p50 ms',
        'p99 ms',
        'server CPU',
        'loader CPU',
        'other CPU',
        'checks answered',
        'decisions kept',
        'dropped',
      ],
      rows: decisionLog.points.flatMap((p) =>
        roundRows({
          rounds: p.rounds,
          name: (r) => `${p.database}, decision_log ${r.server === 'baseline' ? 'off' : 'denied'}`,
          extra: (r) => [fmt(r.checksAnswered), fmt(r.kept), fmt(r.dropped)],
          ratioName: `${p.database}: ratio`,
          comparison: p,
          target: targets.decisionLogOverhead,
        }),
      ),
      note:
        `Two servers seeded alike with ${fmt(decisionLog.customers)} customers on pro, every other one held at its limit of ` +
        `${decisionLog.feature} (a grant lowering it to 10, all consumed); they differ only in the decision_log of ${decisionLog.feature}. ` +
        `POST /v1/check of one unit of ${decisionLog.feature} over every customer in turn: ${fmt(decisionLog.deniedShare * 100)}% denied (limit_reached). ` +
        `${decisionLog.settings.connections} connections, pipelining ${decisionLog.settings.pipelining}, ${decisionLog.settings.warmupSeconds} s warm-up + ${decisionLog.settings.durationSeconds} s each. ` +
        "Rounds in the order run, a baseline on either side of each variant round; each ratio is the variant's req/s to the mean of those two. " +
        'Checks answered: by the server over the measured run, those in flight when it stopped included (half of them denied); ' +
        'decisions kept: rows the log wrote for them (the node writes what waits before and after); dropped: keymaster_decisions_dropped_total over them. ' +
        `Kept per denial answered: ${decisionLog.points.map((p) => `${p.database} ${p.keptPerDenial}`).join('; ')}. ` +
        'CPU/request: server CPU per check, variant ÷ baseline (above 1 is a cost).',
    });
  }
  const ingesting = results.checkWhileIngesting;
  if (ingesting) {
    const row = (name: string, r: LoadResult, ratio: string, events: string) => [
      name,
      fmt(r.requestsPerSecond),
      fmt(r.latencyMs.p50),
      fmt(r.latencyMs.p99),
      pct(r.serverCpuPercent),
      pct(r.otherCpuPercent),
      events,
      ratio,
    ];
    // In the order they ran: each run between the checks alone it is compared with.
    const alone = (i: number) => row(`alone (${i + 1} of ${ingesting.alone.length})`, ingesting.alone[i]!, '', '');
    const ingestingRows = ingesting.runs.map((r) =>
      r.checks
        ? row(`while ingesting into ${r.events}`, r.checks, `${r.ratio}`, fmt(r.ingestion.eventsPerSecond))
        : [`while ingesting into ${r.events}`, 'failed', '', '', '', '', fmt(r.ingestion.eventsPerSecond), '0'],
    );
    const { control } = ingesting;
    const controlRow = row(
      `control: another process asking ${pct(control.ingestionCpuPercent)} CPU (got ${pct(control.burnerCpuPercent)})`,
      control.checks,
      `${control.ratio}`,
      '',
    );
    out.push({
      title: 'Check throughput while ingesting',
      header: ['checks', 'req/s', 'p50 ms', 'p99 ms', 'server CPU', 'other CPU', 'events/s', 'ratio to alone'],
      rows: [...ingestingRows, controlRow].flatMap((r, i) => (i === 0 ? [alone(0), r, alone(1)] : [r, alone(i + 1)])),
      note:
        `The check load of the first table over ${fmt(ingesting.customers)} cached customers; ingestion meanwhile: ` +
        `${ingesting.batchesPerSecond} batches/s of ${fmt(ingesting.batchSize)} events from 2 clients, SQLite. Each ratio is to the mean of the checks alone ` +
        `just before and just after it (the VM's speed drifts within a run). Target: ratio >= ${targets.checkWhileIngesting}. ` +
        `Control: the same checks while a process unrelated to Keymaster asks for the CPU that ingesting alone at that rate took (server and client): ` +
        `a ratio near the ingesting runs' means ingestion costs the checks its CPU and nothing more.`,
    });
  }
  const hooks = results.webhooks;
  if (hooks) {
    out.push({
      title: 'Outbound webhook delivery (SQLite, local receiver)',
      header: ['events', 'endpoints', 'deliveries', 'seconds', 'deliveries/s', 'target'],
      rows: [
        [
          fmt(hooks.events),
          fmt(hooks.endpoints),
          fmt(hooks.deliveries),
          `${hooks.seconds}`,
          fmt(hooks.perSecond),
          `>= ${fmt(targets.webhooksPerSecond)}`,
        ],
      ],
      note: 'From the outbox rows committed to every delivery signed, POSTed, answered 2xx and recorded.',
    });
  }
  const report = results.usageRevenueReport;
  if (report) {
    out.push({
      title: `Usage-vs-revenue report, ${report.rangeDays} days`,
      header: [
        'database',
        'customers',
        'rows',
        'seconds (each run)',
        'server CPU s',
        'best s',
        'response MiB',
        'target',
      ],
      rows: report.runs.map((r) => [
        r.database,
        fmt(r.customers),
        fmt(r.rows),
        r.seconds.join(', '),
        r.cpuSeconds.join(', '),
        `${r.bestSeconds}`,
        `${r.responseMiB}`,
        `< ${reportTargetSeconds} s`,
      ]),
      note:
        'GET /v1/reports/usage-revenue through HTTP, from request to the last byte of the JSON. Every customer has a ' +
        'subscription on pro, an add grant, usage counters and hourly usage history (copied from one template ' +
        'customer straight into the tables).',
    });
  }
  return out;
}

/** The headline figures, one line each. */
function summary(results: BenchResults): string[] {
  const lines: string[] = [];
  const http = results.checkThroughput;
  if (http) {
    lines.push(
      `HTTP check throughput: ${fmt(http.keymaster.requestsPerSecond)} req/s, ` +
        `${http.ratio}× a bare node:http server (${fmt(http.baseline.requestsPerSecond)} req/s); target ≥ 0.8×.`,
    );
  }
  const counted = results.checkInstructions;
  if (counted) {
    lines.push(
      `HTTP check work: ${fmt(counted.keymasterPerRequest)} instructions per request against the bare server's ` +
        `${fmt(counted.baselinePerRequest)} (${counted.ratio}×; user space, callgrind).`,
    );
  }
  const decide = results.decide;
  if (decide) {
    lines.push(
      decide.cases.map((c) => `${c.name}: ${fmt(c.nsPerCall)} ns/call (batch p99 ${fmt(c.batchP99Ns)} ns)`).join('; ') +
        '.',
    );
  }
  const sdk = results.sdkCheck;
  if (sdk) {
    lines.push(
      `SDK local check, ${fmt(sdk.customers)} customers cached: ${fmt(sdk.nsPerCall)} ns/call, batch p99 ` +
        `${fmt(sdk.batchP99Ns)} ns (target < 1,000 ns); ${fmt(sdk.bytesPerCustomer)} bytes per cached customer.`,
    );
  }
  const propagation = results.propagation;
  if (propagation) {
    lines.push(
      `SDK propagation (change through server A, SDK streaming from server B, PostgreSQL): p50 ` +
        `${fmt(propagation.fromWriteMs.p50)} ms, p99 ${fmt(propagation.fromWriteMs.p99)} ms over ${fmt(propagation.changes)} changes` +
        `${propagation.missed > 0 ? ` (${fmt(propagation.missed)} not seen within ${fmt(propagation.timeoutMs)} ms)` : ''}; ` +
        `target p99 < ${fmt(targets.propagationP99Ms)} ms.`,
    );
  }
  const scale = results.customerScale;
  if (scale) {
    const { small, large } = scale;
    lines.push(
      `Checks with ${fmt(large.storedCustomers)} vs ${fmt(small.storedCustomers)} customers stored: ` +
        `${scale.throughputRatio}× the throughput, warm p50 ${fmt(large.warm.p50Us)} vs ${fmt(small.warm.p50Us)} µs, ` +
        `p99 ${fmt(large.warm.p99Us)} vs ${fmt(small.warm.p99Us)} µs; cache miss p50 ${fmt(large.cold.p50Us)} vs ${fmt(small.cold.p50Us)} µs.`,
    );
  }
  const ingestCounted = results.ingestInstructions;
  if (ingestCounted) {
    lines.push(
      `Event ingestion work: ${fmt(ingestCounted.mainThreadPerEvent)} instructions per event on the main thread, ` +
        `${fmt(ingestCounted.plannerThreadPerEvent)} on the planner, ` +
        `${fmt(ingestCounted.writerThreadPerEvent)} on the batch writer (user space, callgrind).`,
    );
  }
  const ingest = results.ingest;
  if (ingest) {
    lines.push(
      `Event ingestion (1,000-event batches, ${ingest.settings.clients} clients): ` +
        ingest.points
          .map(
            (p) =>
              `${p.database}${p.variant === 'unique' ? '' : `, ${ingestVariant(p)}`} ${fmt(p.load.eventsPerSecond)} events/s` +
              (p.baseline
                ? ` (${baselineRatio(p)}× the same batches through pg alone, ${fmt(Math.round(p.baseline.eventsPerSecond))} events/s)`
                : ''),
          )
          .join('; ') +
        `; targets ≥ ${fmt(targets.ingestSqlite)} events/s on SQLite, ≥ ${targets.ingestPostgresBaseline}× pg alone on PostgreSQL.`,
    );
  }
  const consume = results.consume;
  if (consume) {
    lines.push(
      'Consume: ' +
        consume.points
          .map(
            (p) =>
              `${p.database}, ${p.customers === 1 ? 'one hot customer' : `${fmt(p.customers)} customers`} ${fmt(p.load.requestsPerSecond)}/s`,
          )
          .join('; ') +
        (consume.manyVsHot ?? []).map((m) => `; ${m.database}, many ÷ hot ${m.comparison.ratio}×`).join('') +
        (consume.postgresAlone
          ? `; PostgreSQL alone doing the same row work: many ÷ hot ${consume.postgresAlone.ratio}×`
          : '') +
        `; targets ≥ ${fmt(targets.consumeSqlite)}/s on SQLite, ≥ ${fmt(targets.consumePostgresHot)}/s per hot customer on PostgreSQL` +
        ` and many customers ≥ ${targets.consumePostgresManyVsHot}× the hot figure` +
        `; a bare node:http server answering a fixed body under the same load: ${fmt(consume.baseline.requestsPerSecond)}/s.`,
    );
  }
  const alerting = results.alertsOverhead;
  if (alerting) {
    lines.push(
      `Check and consume with ${alerting.rules} alert rules and ${alerting.endpoints} webhook endpoints vs none: ` +
        alerting.points
          .map(
            (p) =>
              `${p.database} ${p.path} ${p.ratio}× req/s (${p.cpuRatio}× server CPU per request` +
              `${p.path === 'consume' ? `; ${fmt(p.firings)} alert firings (${p.firingsPerThousand} per 1,000 consumes) and ${fmt(p.deliveredDuringLoad)} webhook deliveries while measured` : ''})`,
          )
          .join('; ') +
        `; target ≥ ${targets.alertsOverhead}×.`,
    );
  }
  const audited = results.auditOverhead;
  if (audited) {
    lines.push(
      `${audited.route} with its audit row vs without: ` +
        audited.points
          .map(
            (p) =>
              `${p.database} ${p.ratio}× writes/s (${p.cpuRatio}× server CPU per write; ${p.auditRowsPerWrite} audit rows per write)`,
          )
          .join('; ') +
        `; target ≥ ${targets.auditOverhead}×.`,
    );
  }
  const decisionLog = results.decisionLogOverhead;
  if (decisionLog) {
    lines.push(
      `Checks, ${fmt(decisionLog.deniedShare * 100)}% denied, with denials logged vs logging off: ` +
        decisionLog.points
          .map(
            (p) =>
              `${p.database} ${p.ratio}× req/s (${p.cpuRatio}× server CPU per check; ${fmt(p.kept)} decisions kept, ` +
              `${p.keptPerDenial} per denial, ${fmt(p.dropped)} dropped)`,
          )
          .join('; ') +
        `; target ≥ ${targets.decisionLogOverhead}×.`,
    );
  }
  const ingesting = results.checkWhileIngesting;
  if (ingesting) {
    lines.push(
      `Checks while ingesting ${fmt(ingesting.batchesPerSecond * ingesting.batchSize)} events/s: ` +
        ingestingSummary(ingesting.runs) +
        `; target ≥ ${targets.checkWhileIngesting}×. Control, another process asking the CPU ingestion takes ` +
        `(${pct(ingesting.control.ingestionCpuPercent)}): ${ingesting.control.ratio}×.`,
    );
  }
  return lines;
}

function pad(table: Table): string[] {
  const widths = table.header.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [line(table.header), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)];
}

/** The figures as aligned text for the terminal. */
export function toText(results: BenchResults): string {
  return tables(results)
    .map((t) => [`${t.title}`, ...pad(t), ...(t.note ? [`(${t.note})`] : [])].join('\n'))
    .join('\n\n');
}

/** The figures as a Markdown snippet, with the machine and the command that produced them. */
export function toMarkdown(results: BenchResults): string {
  const { machine } = results;
  const lines = [
    '# Benchmark results',
    '',
    `Produced by \`${results.command}\` on ${results.startedAt.slice(0, 10)}${results.quick ? ' (quick smoke run: short, not for quoting)' : ''}.`,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ${machine.os}; Node.js ${machine.node}. ` +
      `1-minute load average before the run: ${results.loadAverageAtStart}.`,
    '',
    'Only the ratios are comparable between machines and runs; each ratio compares two figures',
    'measured in the same run. See README.md for what each benchmark does.',
    '',
    ...summary(results).map((line) => `- ${line}`),
  ];
  for (const t of tables(results)) {
    lines.push('', `## ${t.title}`, '');
    lines.push(`| ${t.header.join(' | ')} |`, `|${t.header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`);
    for (const row of t.rows) lines.push(`| ${row.join(' | ')} |`);
    if (t.note) lines.push('', t.note);
  }
  return `${lines.join('\n')}\n`;
}

/** Each kind of ingesting run once, in the order first run: its ratio, or the mean of its runs' and each. */
function ingestingSummary(runs: CheckWhileIngestingResult['runs']): string {
  const kinds = [...new Set(runs.map((r) => r.events))];
  return kinds
    .map((events) => {
      const own = runs.filter((r) => r.events === events);
      const failed = own.find((r) => !r.checks);
      if (failed) return `checks failed (${failed.failure}) while ingesting into ${events}`;
      const ratios = own.map((r) => r.ratio);
      const mean = round(ratios.reduce((sum, ratio) => sum + ratio, 0) / ratios.length);
      const each = ratios.length > 1 ? `; mean of ${ratios.join(', ')}` : '';
      return `${mean}× the throughput alone (events into ${events}${each})`;
    })
    .join(', ');
}

/** What an ingestion run's events were: all new (ids in order, or random UUIDs), or a share repeated. */
/** Keymaster's PostgreSQL ingestion as a share of pg alone storing the same batches. */
function baselineRatio(point: IngestPoint): string {
  return point.baseline ? (point.load.eventsPerSecond / point.baseline.eventsPerSecond).toFixed(3) : '';
}

function ingestVariant(point: IngestPoint): string {
  if (point.variant === 'unique') return 'all new';
  if (point.variant === 'random-ids') return 'all new, random ids (UUIDv4)';
  return `${fmt(point.duplicateShare * 100)}% repeated`;
}
