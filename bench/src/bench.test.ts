import { describe, expect, it } from 'vitest';
import { compareRounds, roundOrder } from './ab-rounds.js';
import { startCpuBurner } from './cpu-burner.js';
import { runDecideBench } from './decide-bench.js';
import { toMarkdown } from './report.js';
import { percentile, round } from './stats.js';

// Timing thresholds would fail on a busy CI machine; these only check that the harness measures
// what it says it does and reports numbers that make sense.
describe('runDecideBench', () => {
  const result = runDecideBench({ calls: 2_000, resolveCalls: 200, batches: 10, warmupCalls: 100 });

  it('measures the three cases with every call counted', () => {
    expect(result.cases.map((c) => c.name)).toEqual([
      'decide: metered, allowed',
      'decide: metered, denied at limit',
      'resolve: one customer (6 features)',
    ]);
    expect(result.cases.map((c) => c.calls)).toEqual([2_000, 2_000, 200]);
    expect(result).toMatchObject({ features: 6, plans: 3 });
  });

  it('gets the answers right: allowed under the limit, denied at it', () => {
    // Timed calls only: every allowed decide and every resolve (api_calls is on both plans).
    expect(result.checksum).toEqual({ allowed: 2_000 + 200, denied: 2_000 });
  });

  it('reports finite, positive, ordered timings', () => {
    for (const c of result.cases) {
      expect(c.nsPerCall).toBeGreaterThan(0);
      expect(Number.isFinite(c.nsPerCall)).toBe(true);
      expect(c.batchP50Ns).toBeGreaterThan(0);
      expect(c.batchP99Ns).toBeGreaterThanOrEqual(c.batchP50Ns);
    }
  });
});

describe('percentile', () => {
  it('uses the nearest rank', () => {
    const samples = [5, 1, 4, 2, 3];
    expect(percentile(samples, 50)).toBe(3);
    expect(percentile(samples, 99)).toBe(5);
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('compareRounds', () => {
  const run = (server: 'baseline' | 'variant', requestsPerSecond: number, serverCpuPercent: number) => ({
    server,
    load: {
      requestsPerSecond,
      requests: 0,
      latencyMs: { mean: 0, p50: 0, p99: 0 },
      serverCpuPercent,
      loaderCpuPercent: 0,
      otherCpuPercent: 0,
    },
  });

  it('compares each variant round with the mean of the baseline rounds on either side of it', () => {
    expect(roundOrder(2)).toEqual(['baseline', 'variant', 'baseline', 'variant', 'baseline']);
    const compared = compareRounds([
      run('baseline', 1_000, 100),
      run('variant', 900, 100),
      run('baseline', 800, 100),
      run('variant', 800, 100),
      run('baseline', 800, 80),
    ]);
    // req/s 900 ÷ 900 and 800 ÷ 800; CPU per request (100/900) ÷ (100/1000 + 100/800)/2, and (100/800) ÷ the same.
    const cpu = (variant: number) => variant / ((100 / 1_000 + 100 / 800) / 2);
    expect(compared).toEqual({ ratios: [1, 1], ratio: 1, cpuRatio: round((cpu(100 / 900) + cpu(100 / 800)) / 2) });
    expect(() => compareRounds([run('variant', 1, 1), run('baseline', 1, 1), run('variant', 1, 1)])).toThrow(
      /baseline, variant, baseline/,
    );
  });
});

describe('the report', () => {
  /** What every run's results carry besides the benchmarks' own. */
  const instructionsRun = {
    command: 'npm run bench -- --only instructions',
    quick: false,
    startedAt: '2026-11-28T11:00:00.000Z',
    machine: { cpu: 'test CPU', cores: 2, memoryGiB: 24, os: 'Linux', node: 'v20' },
    loadAverageAtStart: 0.1,
    settings: { load: { connections: 50, pipelining: 10, durationSeconds: 10, warmupSeconds: 2 } },
  };

  it('shows the instruction counts of the check and their ratio, in the table and the summary', () => {
    const markdown = toMarkdown({
      ...instructionsRun,
      checkInstructions: {
        customers: 50,
        requests: 10_000,
        warmupRequests: 5_000,
        keymasterPerRequest: 107_920,
        baselinePerRequest: 66_367,
        ratio: 0.615,
        keymasterAllThreadsPerRequest: 148_000,
        baselineAllThreadsPerRequest: 104_000,
      },
    });
    expect(markdown).toContain('| keymaster POST /v1/check | 107,920 | 148,000 |');
    expect(markdown).toContain('| bare node:http, same body | 66,367 | 104,000 |');
    expect(markdown).toContain('| ratio bare / keymaster | 0.615 | 0.703 |');
    expect(markdown).toContain('107,920 instructions per request against the bare server');
  });

  it("shows ingestion's instruction counts by thread, in the table and the summary", () => {
    const markdown = toMarkdown({
      ...instructionsRun,
      ingestInstructions: {
        customers: 1_000,
        batchSize: 1_000,
        batches: 20,
        warmupBatches: 20,
        mainThreadPerEvent: 2_312,
        plannerThreadPerEvent: 21_050,
        writerThreadPerEvent: 52_764,
        allThreadsPerEvent: 98_134,
      },
    });
    expect(markdown).toContain('| main (HTTP) | 2,312 |');
    expect(markdown).toContain('| planner (parsing, reading and metering, planning) | 21,050 |');
    expect(markdown).toContain('| batch writer (SQLite transaction) | 52,764 |');
    expect(markdown).toContain(
      '2,312 instructions per event on the main thread, 21,050 on the planner, 52,764 on the batch writer',
    );
  });

  /** A load run's result at this rate, and a paced ingestion's, for the reports of benchmark 6. */
  const load = (requestsPerSecond: number) => ({
    requestsPerSecond,
    requests: requestsPerSecond * 10,
    latencyMs: { mean: 20, p50: 18, p99: 60 },
    serverCpuPercent: 104,
    loaderCpuPercent: 90,
    otherCpuPercent: 1,
  });
  const ingestion = {
    ...load(10),
    batches: 100,
    seconds: 10,
    eventsPerSecond: 9_922,
    accepted: 99_220,
    duplicates: 0,
    rejected: 0,
  };

  it('shows the checks beside ingestion and beside the CPU control, with their ratios', () => {
    const markdown = toMarkdown({
      ...instructionsRun,
      checkWhileIngesting: {
        customers: 1_000,
        batchSize: 1_000,
        batchesPerSecond: 10,
        alone: [load(19_000), load(21_000), load(20_000)],
        runs: [
          { events: 'other customers', checks: load(16_000), failure: null, ingestion, baseline: 20_000, ratio: 0.8 },
        ],
        control: {
          ingestionCpuPercent: 38.5,
          burnerCpuPercent: 31.2,
          checks: load(16_810),
          baseline: 20_500,
          ratio: 0.82,
        },
      },
    });
    // In the order they ran, each between the checks alone it is compared with.
    const rows = markdown.split('\n').filter((line) => /^\| (alone|while|control)/.test(line));
    expect(rows.map((line) => line.split(' | ')[0])).toEqual([
      '| alone (1 of 3)',
      '| while ingesting into other customers',
      '| alone (2 of 3)',
      '| control: another process asking 38.5% CPU (got 31.2%)',
      '| alone (3 of 3)',
    ]);
    expect(markdown).toContain('| while ingesting into other customers | 16,000 |');
    expect(markdown).toContain('| control: another process asking 38.5% CPU (got 31.2%) | 16,810 |');
    expect(markdown).toContain('0.8× the throughput alone (events into other customers); target ≥ 0.9×');
    expect(markdown).toContain('Control, another process asking the CPU ingestion takes (38.5%): 0.82×.');
  });

  it('shows the alerts rounds in the order run, the firings and deliveries of the variant, and each ratio', () => {
    const settings = { connections: 50, pipelining: 1, durationSeconds: 10, warmupSeconds: 2 };
    const variant = (requestsPerSecond: number, firings: number, received: number, deliveries: number) => ({
      server: 'variant' as const,
      load: load(requestsPerSecond),
      firings,
      deliveredDuringLoad: received,
      deliveries,
    });
    const baseline = (requestsPerSecond: number) => ({ server: 'baseline' as const, load: load(requestsPerSecond) });
    const markdown = toMarkdown({
      ...instructionsRun,
      alertsOverhead: {
        settings: { check: { ...settings, pipelining: 10 }, consume: settings },
        customers: 1_000,
        rules: 20,
        endpoints: 2,
        variantRounds: 2,
        points: [
          {
            database: 'sqlite',
            path: 'consume',
            rounds: [
              baseline(5_000),
              variant(4_900, 400, 700, 820),
              baseline(5_200),
              variant(5_000, 200, 380, 410),
              baseline(5_000),
            ],
            ratios: [0.961, 0.98],
            ratio: 0.97,
            cpuRatio: 1.04,
            firings: 600,
            deliveredDuringLoad: 1_080,
            deliveries: 1_230,
            firingsPerThousand: 6,
          },
        ],
      },
    });
    const rows = markdown.split('\n').filter((line) => line.startsWith('| sqlite, consume'));
    expect(rows.map((line) => line.split(' | ').slice(0, 2).join(' | '))).toEqual([
      '| sqlite, consume, no rules, no endpoints | 5,000',
      '| sqlite, consume, rules and endpoints | 4,900',
      '| sqlite, consume, no rules, no endpoints | 5,200',
      '| sqlite, consume, rules and endpoints | 5,000',
      '| sqlite, consume, no rules, no endpoints | 5,000',
      '| sqlite, consume: ratio (mean of 0.961, 0.98) | 0.97',
    ]);
    expect(rows[1]).toMatch(/\| 400 \| 700 \| 820 \|$/);
    expect(markdown).toContain(
      'Check and consume with 20 alert rules and 2 webhook endpoints vs none: sqlite consume 0.97× req/s ' +
        '(1.04× server CPU per request; 600 alert firings (6 per 1,000 consumes) and 1,080 webhook deliveries while measured); ' +
        'target ≥ 0.95×.',
    );
  });

  it('shows the audit rounds in the order run, the rows each wrote, the ratio and the verified chain', () => {
    const settings = { connections: 50, pipelining: 1, durationSeconds: 10, warmupSeconds: 2 };
    const round = (server: 'baseline' | 'variant', writesPerSecond: number, auditRows: number) => ({
      server,
      load: load(writesPerSecond),
      auditRows,
    });
    const markdown = toMarkdown({
      ...instructionsRun,
      auditOverhead: {
        settings,
        customers: 1_000,
        variantRounds: 1,
        route: 'PUT /v1/customers/{id}',
        points: [
          {
            database: 'postgres',
            rounds: [round('baseline', 3_000, 0), round('variant', 2_850, 28_530), round('baseline', 3_100, 0)],
            ratios: [0.934],
            ratio: 0.934,
            cpuRatio: 1.07,
            auditRowsPerWrite: 1,
            verified: { ok: true, count: 61_000 },
          },
        ],
      },
    });
    const rows = markdown.split('\n').filter((line) => line.startsWith('| postgres'));
    expect(rows).toEqual([
      '| postgres, audit rows off (benchmark switch) | 3,000 | 18 | 60 | 104% | 90% | 1% | 0 |',
      '| postgres, audit rows | 2,850 | 18 | 60 | 104% | 90% | 1% | 28,530 |',
      '| postgres, audit rows off (benchmark switch) | 3,100 | 18 | 60 | 104% | 90% | 1% | 0 |',
      '| postgres: ratio | 0.934 |  |  | CPU/request 1.07 |  |  | target >= 0.9 |',
    ]);
    expect(markdown).toContain("the variant's chain verified: postgres 61,000 rows, every link holds");
    expect(markdown).toContain(
      'PUT /v1/customers/{id} with its audit row vs without: postgres 0.934× writes/s ' +
        '(1.07× server CPU per write; 1 audit rows per write); target ≥ 0.9×.',
    );
  });

  it('shows the decision-log rounds with the checks answered and the decisions kept and dropped', () => {
    const round = (server: 'baseline' | 'variant', requestsPerSecond: number, kept: number, dropped: number) => ({
      server,
      load: load(requestsPerSecond),
      checksAnswered: requestsPerSecond * 10,
      kept,
      dropped,
    });
    const markdown = toMarkdown({
      ...instructionsRun,
      decisionLogOverhead: {
        settings: instructionsRun.settings.load,
        customers: 1_000,
        variantRounds: 2,
        deniedShare: 0.5,
        feature: 'exports',
        points: [
          {
            database: 'sqlite',
            rounds: [
              round('baseline', 20_000, 0, 0),
              round('variant', 19_400, 96_000, 1_000),
              round('baseline', 20_200, 0, 0),
              round('variant', 19_000, 95_000, 0),
              round('baseline', 19_800, 0, 0),
            ],
            ratios: [0.965, 0.955],
            ratio: 0.96,
            cpuRatio: 1.03,
            keptPerDenial: 0.995,
            kept: 191_000,
            dropped: 1_000,
          },
        ],
      },
    });
    const rows = markdown.split('\n').filter((line) => line.startsWith('| sqlite'));
    expect(rows.map((line) => line.split(' | ').slice(0, 2).join(' | '))).toEqual([
      '| sqlite, decision_log off | 20,000',
      '| sqlite, decision_log denied | 19,400',
      '| sqlite, decision_log off | 20,200',
      '| sqlite, decision_log denied | 19,000',
      '| sqlite, decision_log off | 19,800',
      '| sqlite: ratio (mean of 0.965, 0.955) | 0.96',
    ]);
    expect(rows[1]).toMatch(/\| 194,000 \| 96,000 \| 1,000 \|$/);
    expect(rows[5]).toMatch(/\| CPU\/request 1.03 \| {2}\| {2}\| {2}\| {2}\| target >= 0.95 \|$/);
    expect(markdown).toContain(
      'Checks, 50% denied, with denials logged vs logging off: sqlite 0.96× req/s (1.03× server CPU per check; ' +
        '191,000 decisions kept, 0.995 per denial, 1,000 dropped); target ≥ 0.95×.',
    );
  });

  it('sums up each kind of ingesting run by the mean of its runs, A-B-B-A', () => {
    const run = (events: 'checked customers' | 'other customers', ratio: number) => ({
      events,
      checks: load(20_000 * ratio),
      failure: null,
      ingestion,
      baseline: 20_000,
      ratio,
    });
    const markdown = toMarkdown({
      ...instructionsRun,
      checkWhileIngesting: {
        customers: 1_000,
        batchSize: 1_000,
        batchesPerSecond: 10,
        alone: [load(20_000), load(20_000), load(20_000), load(20_000), load(20_000), load(20_000)],
        runs: [
          run('checked customers', 0.84),
          run('other customers', 0.95),
          run('other customers', 0.93),
          run('checked customers', 0.9),
        ],
        control: { ingestionCpuPercent: 17, burnerCpuPercent: 19, checks: load(19_000), baseline: 20_000, ratio: 0.95 },
      },
    });
    expect(markdown).toContain(
      'Checks while ingesting 10,000 events/s: 0.87× the throughput alone (events into checked customers; mean of 0.84, 0.9), ' +
        '0.94× the throughput alone (events into other customers; mean of 0.95, 0.93); target ≥ 0.9×.',
    );
  });
});

describe('the CPU burner', () => {
  it('keeps about the share of a core it is asked for busy, and stops', async () => {
    const burner = await startCpuBurner(30);
    try {
      const before = await burner.cpuMicros();
      const started = performance.now();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const percent = ((await burner.cpuMicros()) - before) / ((performance.now() - started) * 10);
      // Loose bounds: the test runner's other suites share the cores.
      expect(percent).toBeGreaterThan(10);
      expect(percent).toBeLessThan(70);
    } finally {
      await burner.stop();
    }
  });
});
