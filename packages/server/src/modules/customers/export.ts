import { sql } from 'kysely';
import type { Db } from '../../db/database.js';
import { toIso } from '../../json-column.js';
import { sealAudit } from '../audit/trail.js';
import { type CustomerRecord, toApiCustomer } from './convert.js';
import type { ExportSection } from './export-section.js';
import { exportSections } from './export-sections.js';

/** The export's format; a change a reader of version 1 would misread takes a new number. */
export const exportFormatVersion = 1;

/** Rows read per query: what one export holds in memory at a time. */
export const exportPageSize = 1000;

/**
 * Everything held about one customer as one JSON document, as text in pieces:
 * `{"version", "exported_at", "customer", <section>: [...], ...}` with a section per entry of
 * `exportSections`, each row on a line of its own. Rows are read a page at a time, each page a
 * query of its own (no transaction: a long download must not hold the database), so rows written
 * while it runs may or may not be in it. The HTTP route and the command line both write this.
 */
export async function* customerExport(input: {
  db: Db;
  customer: CustomerRecord;
  now: number;
  pageSize?: number;
}): AsyncGenerator<string> {
  const { customer, now } = input;
  // The audit section shows every change committed before the export started.
  await sealAudit(input.db);
  const header = { version: exportFormatVersion, exported_at: toIso(now), customer: toApiCustomer(customer) };
  yield JSON.stringify(header).slice(0, -1);
  for (const section of exportSections) {
    yield `,\n${JSON.stringify(section.name)}:[`;
    let separator = '\n';
    for await (const rows of pagesOf({ ...input, section })) {
      let text = '';
      for (const row of rows) {
        text += separator + JSON.stringify(section.convert(row as never, { now }));
        separator = ',\n';
      }
      yield text;
    }
    yield separator === '\n' ? ']' : '\n]';
  }
  yield '}\n';
}

/** The section's rows about the customer, a page at a time, in key order (keyset paging). */
async function* pagesOf(input: {
  db: Db;
  customer: CustomerRecord;
  section: ExportSection;
  pageSize?: number;
}): AsyncGenerator<Record<string, unknown>[]> {
  const { db, customer, section } = input;
  const limit = input.pageSize ?? exportPageSize;
  const column = (name: string) => sql.ref(`${section.table}.${name}`);
  const key = sql.join(section.key.map(column));
  const about = section.about?.(customer) ?? sql`${column('customer_id')} = ${customer.id}`;
  const select = section.select ?? sql`${sql.table(section.table)}.*`;
  const from = section.from ?? sql.table(section.table);
  let after: Record<string, unknown> | undefined;
  for (;;) {
    const past =
      after === undefined ? sql`1 = 1` : sql`(${key}) > (${sql.join(section.key.map((name) => after![name]))})`;
    const { rows } = await sql<Record<string, unknown>>`select ${select} from ${from}
      where ${about} and ${past} order by ${key} limit ${limit}`.execute(db);
    if (rows.length > 0) yield rows;
    if (rows.length < limit) return;
    after = rows.at(-1);
  }
}

/**
 * The file name an export is saved under: `keymaster-customer-<id>.json`, with an ASCII stand-in
 * for `filename` and the id as it is in `filename*` (RFC 6266), as a Content-Disposition value.
 */
export function exportContentDisposition(customerId: string): string {
  const name = `keymaster-customer-${customerId}.json`;
  const ascii = name.replace(/[^\w.@+-]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
