import type { CheckThroughputResult } from './check-throughput.js';
import type { CustomerScaleResult, ScalePoint } from './customer-scale.js';
import type { DecideBenchResult } from './decide-bench.js';
import type { LoadSettings } from './http-load.js';
import type { Machine } from './machine.js';

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
  customerScale?: CustomerScaleResult;
}

interface Table {
  title: string;
  header: string[];
  rows: string[][];
  note?: string;
}

const fmt = (value: number) => value.toLocaleString('en');
const pct = (value: number | null) => (value === null ? 'n/a' : `${fmt(value)}%`);

function tables(results: BenchResults): Table[] {
  const out: Table[] = [];
  const { load } = results.settings;
  const loadShape = `${load.connections} connections, pipelining ${load.pipelining}, ${load.warmupSeconds} s warm-up + ${load.durationSeconds} s`;
  const http = results.checkThroughput;
  if (http) {
    const row = (name: string, r: CheckThroughputResult['keymaster']) => [
      name,
      fmt(r.requestsPerSecond),
      fmt(r.latencyMs.p50),
      fmt(r.latencyMs.p99),
      pct(r.serverCpuPercent),
      pct(r.loaderCpuPercent),
      pct(r.otherCpuPercent),
    ];
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
  const decide = results.decide;
  if (decide) {
    out.push({
      title: 'In-process core',
      header: ['case', 'calls', 'ns/call', 'batch p50 ns', 'batch p99 ns'],
      rows: decide.cases.map((c) => [c.name, fmt(c.calls), fmt(c.nsPerCall), fmt(c.batchP50Ns), fmt(c.batchP99Ns)]),
      note: `${decide.features} features, ${decide.plans} plans. Batch percentiles are over the per-call mean of each batch.`,
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
  const decide = results.decide;
  if (decide) {
    lines.push(
      decide.cases.map((c) => `${c.name}: ${fmt(c.nsPerCall)} ns/call (batch p99 ${fmt(c.batchP99Ns)} ns)`).join('; ') +
        '.',
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
