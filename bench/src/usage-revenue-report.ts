import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { startServer } from './child-server.js';
import { customerId, keymasterApi, seedCatalog, seedCustomers } from './keymaster-api.js';
import type { DatabaseChoice } from './seeded-server.js';
import { round } from './stats.js';

export interface ReportRun {
  database: 'sqlite' | 'postgres';
  customers: number;
  seedSeconds: number;
  /** Rows in the answer: every customer stored, each with a subscription in the range. */
  rows: number;
  /** Each run of `GET /v1/reports/usage-revenue` over one quarter, from request to the last byte. */
  seconds: number[];
  /** The server's CPU time (user + system) during each run: on a shared machine, the work apart from the wait. */
  cpuSeconds: number[];
  bestSeconds: number;
  responseMiB: number;
}

export interface UsageRevenueReportResult {
  customers: number;
  rangeDays: number;
  runs: ReportRun[];
}

/** The figure the SPEC asks for: a quarter over 100,000 customers in under this many seconds. */
export const reportTargetSeconds = 10;

const dayMs = 86_400_000;

/**
 * The usage-vs-revenue report over `customers` customers and one quarter (the 91 days up to now),
 * through HTTP, on each database. A template customer on `pro` with an `add` grant and some usage
 * is created through the API; its rows (customer, subscription and history, grant, counters and
 * hourly usage) are copied straight into the tables for everyone else (clone-report-customers.ts).
 */
export async function benchUsageRevenueReport(input: {
  customers: number;
  repeats: number;
  targets: DatabaseChoice[];
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<UsageRevenueReportResult> {
  const runs: ReportRun[] = [];
  const rangeDays = 91;
  for (const target of input.targets) {
    const adminKey = `km_sk_bench_${randomBytes(12).toString('hex')}`;
    const server = await startServer({
      script: 'keymaster-server',
      env: {
        KEYMASTER_ADMIN_KEY: adminKey,
        LOG_LEVEL: 'warn',
        BENCH_SERVER_DATABASE_URL: target.database === 'postgres' ? target.url : '',
      },
      execArgv: input.serverExecArgv,
    });
    try {
      const api = keymasterApi({ url: server.url, adminKey });
      input.log(`${target.database}: seeding ${input.customers.toLocaleString('en')} customers`);
      const seedStarted = performance.now();
      await seedCatalog(api);
      const template = customerId(0);
      await seedCustomers({
        api,
        ids: [template],
        plan: 'pro',
        concurrency: 1,
        grant: { feature: 'api_calls', mode: 'add', limit: 1_000, reason: 'benchmark' },
      });
      await api.call('POST', '/v1/consume', { customer: template, feature: 'api_calls', quantity: 42 });
      await server.command('clone-report-customers', { template, from: 1, to: input.customers });
      const seedSeconds = round((performance.now() - seedStarted) / 1000);

      const to = Date.now() + 60_000;
      const query = `from=${new Date(to - rangeDays * dayMs).toISOString()}&to=${new Date(to).toISOString()}`;
      const seconds: number[] = [];
      const cpuSeconds: number[] = [];
      let rows = 0;
      let bytes = 0;
      for (let i = 0; i < input.repeats; i++) {
        input.log(`${target.database}: report ${i + 1} of ${input.repeats}`);
        const cpuBefore = await server.cpuMicros();
        const started = performance.now();
        const response = await getFresh(new URL(`/v1/reports/usage-revenue?${query}`, server.url), api.headers);
        const body = response.body;
        seconds.push(round((performance.now() - started) / 1000));
        cpuSeconds.push(round(((await server.cpuMicros()) - cpuBefore) / 1e6));
        input.log(`${target.database}: ${seconds.at(-1)} s, server CPU ${cpuSeconds.at(-1)} s`);
        if (response.status !== 200) throw new Error(`report: HTTP ${response.status}: ${body.slice(0, 500)}`);
        bytes = body.length;
        rows = (JSON.parse(body) as { data: unknown[] }).data.length;
      }
      if (rows !== input.customers) throw new Error(`report: ${rows} rows for ${input.customers} customers`);
      runs.push({
        database: target.database,
        customers: input.customers,
        seedSeconds,
        rows,
        seconds,
        cpuSeconds,
        bestSeconds: Math.min(...seconds),
        responseMiB: round(bytes / 1024 / 1024),
      });
    } finally {
      await server.stop();
    }
  }
  return { customers: input.customers, rangeDays, runs };
}

/** A GET on a connection of its own (no keep-alive: a long answer must not meet a socket the server closed). */
function getFresh(url: URL, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
