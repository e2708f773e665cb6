import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { reportOrigins, StoredReportListQuery, UsageRevenueQuery, usageRevenueFlags } from '@keymaster/contract';
import { type Command, Option } from 'commander';
import { csvLine } from '../../csv.js';
import type { openDatabase } from '../../db/database.js';
import type { AjvError } from '../../http/problems.js';
import { bodyValidator } from '../../http/validation.js';
import { printTable } from '../../print-table.js';
import { systemActor } from '../audit/trail.js';
import { toApiStoredReport, usageRevenueJson } from './convert.js';
import { decompressedBody, readStoredReport } from './report-body.js';
import type { ReportService } from './service.js';
import type { UsageRevenueService } from './usage-revenue.js';

type Database = ReturnType<typeof openDatabase>;
type Format = 'table' | 'json' | 'csv';

/** `keymaster report …`: the usage-revenue report on demand or stored, and the stored ones. */
export function registerReportCommands(input: {
  program: Command;
  withDatabase: <T>(work: (database: Database) => Promise<T>) => Promise<T>;
  /** The report services over an open database. */
  reportsOn: (database: Database) => { usageRevenue: UsageRevenueService; reports: ReportService };
  /** Options refused by the API's schema, as the command line reports them. */
  validationError: (errors: AjvError[]) => Error;
}): void {
  const { program, withDatabase, reportsOn, validationError } = input;
  const report = program.command('report').description('Reports over the whole customer base (docs/reports.md).');

  report
    .command('usage-revenue')
    .description(
      'Usage against revenue over a range, as GET /v1/reports/usage-revenue answers: per customer the revenue ' +
        '(prices prorated over the paid part of each billing period), the use of each limited feature and the flags. ' +
        'With --save, stores it as POST /v1/reports/usage-revenue does and prints its id.',
    )
    .requiredOption('--from <time>', 'ISO-8601 start')
    .requiredOption('--to <time>', 'ISO-8601 end, exclusive (at most 400 days after --from)')
    .option('--plan <key>', 'only customers on this plan')
    .addOption(new Option('--flag <flag>', 'only customers with this flag').choices([...usageRevenueFlags]))
    .addOption(new Option('--format <format>', 'output').choices(['table', 'json', 'csv']).default('table'))
    .option('--save', 'store the report (see `keymaster report list`) and print its id instead')
    .action(
      async (options: {
        from: string;
        to: string;
        plan?: string;
        flag?: (typeof usageRevenueFlags)[number];
        format: Format;
        save?: boolean;
      }) => {
        const { format, save, ...query } = options;
        const validated = bodyValidator(UsageRevenueQuery)(query);
        if (validated.error) throw validationError(validated.error.validation);
        const range = { ...query, from: Date.parse(query.from), to: Date.parse(query.to) };
        if (save) {
          const row = await withDatabase((database) =>
            reportsOn(database).reports.create({ range, made: 'cli', actor: systemActor }),
          );
          console.log(row.id);
          return;
        }
        await withDatabase(async (database) => {
          const opened = await reportsOn(database).usageRevenue.open(range);
          await printUsageRevenue(
            {
              pages: () => opened.pages(),
              summary: () => opened.summary(),
              json: () => Readable.from(withNewline(usageRevenueJson(opened))),
            },
            format,
          );
        });
      },
    );

  report
    .command('list')
    .description('Stored reports, newest first, as GET /v1/reports lists them.')
    .addOption(new Option('--made <origin>', 'only those made this way').choices([...reportOrigins]))
    .option('--limit <n>', 'how many, 1-100', (value) => Number(value), 20)
    .option('--json', 'print the API documents instead')
    .action(async (options: { made?: (typeof reportOrigins)[number]; limit: number; json?: boolean }) => {
      const { json, ...query } = options;
      const validated = bodyValidator(StoredReportListQuery)(query);
      if (validated.error) throw validationError(validated.error.validation);
      const rows = await withDatabase((database) =>
        reportsOn(database).reports.list({ made: query.made, before: undefined, limit: query.limit }),
      );
      const list = rows.map(toApiStoredReport);
      if (json) {
        console.log(JSON.stringify(list, null, 2));
        return;
      }
      if (list.length === 0) {
        console.log('No stored reports.');
        return;
      }
      printTable(
        ['id', 'kind', 'from', 'to', 'filters', 'made', 'created', 'customers', 'size'],
        list.map((r) => [
          r.id,
          r.kind,
          r.from,
          r.to,
          [r.filters.plan && `plan=${r.filters.plan}`, r.filters.flag && `flag=${r.filters.flag}`]
            .filter(Boolean)
            .join(' ') || '-',
          r.made,
          r.created_at,
          String(r.customers),
          String(r.size),
        ]),
      );
    });

  report
    .command('show')
    .description(
      'A stored report, as GET /v1/reports/{id} answers it: the JSON document as stored, or the table or CSV ' +
        'of `keymaster report usage-revenue`. Exits 1 for an unknown id.',
    )
    .argument('<id>', 'the report id (rpt_…), as `keymaster report list` shows it')
    .addOption(new Option('--format <format>', 'output').choices(['table', 'json', 'csv']).default('json'))
    .action(async (id: string, options: { format: Format }) => {
      await withDatabase(async (database) => {
        const { body } = await reportsOn(database).reports.get(id);
        const stored = readStoredReport(body);
        await printUsageRevenue(
          { pages: () => stored.pages(), summary: () => stored.summary(), json: () => decompressedBody(body) },
          options.format,
        );
      });
    });
}

/** What the table and CSV show of a row: fields the report's rows and the API's have alike. */
interface PrintedRow {
  customer: string;
  plan: string;
  revenue: { amount: number; currency: string };
  features: readonly { feature: string; usage: number; limit: number | null }[];
  flags: readonly string[];
}

/** A usage-revenue report to print: computed now, or stored. */
interface Printable {
  pages(): AsyncIterable<readonly PrintedRow[]>;
  /** Known once every page has been read. */
  summary(): { totals: { customers: number; revenue: Record<string, number> } };
  /** The API's JSON document. */
  json(): Readable;
}

/**
 * The usage-revenue report as the command line prints it: the API's JSON document, CSV, or a
 * table with the totals. JSON and CSV go out a page of customers at a time, as the API's answer does.
 */
async function printUsageRevenue(report: Printable, format: Format): Promise<void> {
  const header = ['customer', 'plan', 'revenue', 'currency', 'features (usage/limit)', 'flags'];
  const cells = (row: PrintedRow) => [
    row.customer,
    row.plan,
    String(row.revenue.amount),
    row.revenue.currency,
    row.features.map((f) => `${f.feature}=${f.usage}/${f.limit ?? '-'}`).join(' '),
    row.flags.join(' '),
  ];
  if (format === 'json') {
    await pipeline(report.json(), process.stdout, { end: false });
    return;
  }
  if (format === 'csv') {
    async function* lines() {
      yield `${csvLine(header)}\n`;
      for await (const rows of report.pages()) yield rows.map((row) => `${csvLine(cells(row))}\n`).join('');
    }
    await pipeline(Readable.from(lines()), process.stdout, { end: false });
    return;
  }
  const rows: string[][] = [];
  for await (const page of report.pages()) for (const row of page) rows.push(cells(row));
  printTable(header, rows);
  const { totals } = report.summary();
  const revenue = Object.entries(totals.revenue)
    .map(([currency, amount]) => `${amount} ${currency}`)
    .join(', ');
  console.log(`${totals.customers} customers, revenue ${revenue || '0'} (minor units)`);
}

async function* withNewline(text: AsyncIterable<string>): AsyncGenerator<string> {
  yield* text;
  yield '\n';
}
