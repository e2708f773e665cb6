import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { StoredUsageRevenueReport } from '@keymaster/contract';

/**
 * A stored report's body: its JSON document, gzip-compressed. The document is written with one
 * row of `data` a line —
 *
 * ```
 * {"id":"rpt_…","from":"…","to":"…","data":[
 * {"customer":"acme",…},
 * {"customer":"globex",…}
 * ],"plans":{…},"totals":{…}}
 * ```
 *
 * — so it is made, read and rewritten a line at a time, never as one string of 100+ MiB, and a
 * customer's row is found by its line's start (`{"customer":<id>,`, as `JSON.stringify` writes the
 * API's rows, `customer` first).
 */

type Row = StoredUsageRevenueReport['data'][number];

export interface CompressedReport {
  body: Buffer;
  /** The document's size in bytes. */
  size: number;
  customers: number;
}

/** What the document's lines are written and read in: enough to keep zlib busy, not the whole. */
const chunkBytes = 64 * 1024;

/** A report to store, as it is read: its rows a page at a time, then its totals. */
export interface ReportSource {
  id: string;
  from: string;
  to: string;
  pages: AsyncIterable<readonly Row[]>;
  /** Known once every page has been read. */
  summary: () => Pick<StoredUsageRevenueReport, 'plans' | 'totals'>;
}

/**
 * Writes the document as the body stores it (see above), compressing it as its pages come:
 * never more than a page of rows in memory besides the compressed body. Also answers the
 * customers it has rows for.
 */
export async function compressReport(
  source: ReportSource,
): Promise<{ compressed: CompressedReport; customerIds: string[] }> {
  const customerIds: string[] = [];
  let size = 0;
  async function* text(): AsyncGenerator<string> {
    let piece = `${JSON.stringify({ id: source.id, from: source.from, to: source.to }).slice(0, -1)},"data":[\n`;
    for await (const rows of source.pages) {
      for (const row of rows) {
        piece += `${customerIds.length > 0 ? ',\n' : ''}${JSON.stringify(row)}`;
        customerIds.push(row.customer);
      }
      if (piece.length >= chunkBytes) {
        size += Buffer.byteLength(piece);
        yield piece;
        piece = '';
      }
    }
    const { plans, totals } = source.summary();
    piece += `${customerIds.length > 0 ? '\n' : ''}],"plans":${JSON.stringify(plans)},"totals":${JSON.stringify(totals)}}\n`;
    size += Buffer.byteLength(piece);
    yield piece;
  }
  const body = await gzipOf(text());
  return { compressed: { body, size, customers: customerIds.length }, customerIds };
}

/** A stored document read back a page of rows at a time (for the command line's CSV and table). */
export interface StoredReportPages {
  pages(): AsyncGenerator<Row[]>;
  /** Known once every page has been read. */
  summary(): Pick<StoredUsageRevenueReport, 'plans' | 'totals'>;
}

/** Rows handed out per page when a stored document is read back. */
const rowsPerPage = 1000;

export function readStoredReport(body: Buffer): StoredReportPages {
  let summary: Pick<StoredUsageRevenueReport, 'plans' | 'totals'> | undefined;
  return {
    async *pages() {
      let page: Row[] = [];
      let line = 0;
      for await (const text of linesOf(body)) {
        line++;
        if (line === 1) continue; // {"id":…,"from":…,"to":…,"data":[
        if (text.startsWith(']')) {
          summary = JSON.parse(`{${text.slice(2)}`) as typeof summary;
          break;
        }
        page.push(JSON.parse(text.endsWith(',') ? text.slice(0, -1) : text) as Row);
        if (page.length >= rowsPerPage) {
          yield page;
          page = [];
        }
      }
      if (page.length > 0) yield page;
    },
    summary() {
      if (!summary) throw new Error('the report’s summary is known once every page has been read');
      return summary;
    },
  };
}

async function gzipOf(text: AsyncIterable<string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(Readable.from(text), createGzip(), async (compressed: AsyncIterable<Buffer>) => {
    for await (const chunk of compressed) chunks.push(chunk);
  });
  return Buffer.concat(chunks);
}

/** The body decompressed, as a stream: fed to zlib in slices, so it decompresses only as fast as it is read. */
export function decompressedBody(body: Buffer): Readable {
  return Readable.from(slicesOf(body)).pipe(createGunzip());
}

function* slicesOf(body: Buffer): Generator<Buffer> {
  for (let start = 0; start < body.length; start += chunkBytes) yield body.subarray(start, start + chunkBytes);
}

/** The document's lines, one row of `data` each between the first and the last. */
async function* linesOf(body: Buffer): AsyncGenerator<string> {
  const input = decompressedBody(body);
  try {
    yield* createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  } finally {
    // A reader that stops early (it found what it looked for) leaves the rest undecompressed.
    input.destroy();
  }
}

/**
 * What an erased customer's row becomes (docs/privacy.md): the figures stay, so the report's
 * totals still add up, but nothing names them — their id is replaced by a value no customer id can
 * be (ids hold no spaces), and the ids of their subscriptions and grants, which the audit trail
 * still links to them, are removed.
 */
export function withoutCustomer(row: Row): Row {
  return {
    ...row,
    customer: erasedCustomer,
    features: row.features.map((feature) => ({ ...feature, subscription: null, grants: [] })),
    evidence: {
      ...row.evidence,
      subscriptions: [],
      revenue: row.evidence.revenue.map((line) => ({ ...line, subscription: erasedSubscription })),
      grants: [],
    },
  };
}

export const erasedCustomer = 'erased customer';
export const erasedSubscription = 'erased subscription';

/**
 * The body with the rows of these customers made anonymous (`withoutCustomer`), or null when it
 * has none of theirs. Read once to look, and rewritten only when a row is theirs.
 */
export async function eraseCustomersFromBody(
  body: Buffer,
  customers: ReadonlySet<string>,
): Promise<CompressedReport | null> {
  const starts = [...customers].map((id) => `{"customer":${JSON.stringify(id)},`);
  const isTheirs = (line: string) => starts.some((start) => line.startsWith(start));
  let found = false;
  for await (const line of linesOf(body)) {
    if (isTheirs(line)) {
      found = true;
      break;
    }
  }
  if (!found) return null;
  let size = 0;
  let rows = 0;
  async function* rewritten(): AsyncGenerator<string> {
    let piece = '';
    for await (const line of linesOf(body)) {
      let out = line;
      if (line.startsWith('{"customer":')) {
        rows++;
        if (isTheirs(line)) {
          const comma = line.endsWith(',') ? ',' : '';
          out = JSON.stringify(withoutCustomer(JSON.parse(comma ? line.slice(0, -1) : line) as Row)) + comma;
        }
      }
      piece += `${out}\n`;
      if (piece.length >= chunkBytes) {
        size += Buffer.byteLength(piece);
        yield piece;
        piece = '';
      }
    }
    size += Buffer.byteLength(piece);
    yield piece;
  }
  return { body: await gzipOf(rewritten()), size, customers: rows };
}
