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

/** Writes the document as the body stores it (see above). */
export async function compressReport(document: StoredUsageRevenueReport): Promise<CompressedReport> {
  let size = 0;
  async function* text(): AsyncGenerator<string> {
    for (const piece of documentText(document)) {
      size += Buffer.byteLength(piece);
      yield piece;
    }
  }
  return { body: await gzipOf(text()), size, customers: document.data.length };
}

/** The document's text, in pieces of about `chunkBytes`. */
function* documentText(document: StoredUsageRevenueReport): Generator<string> {
  const { id, from, to, data, plans, totals } = document;
  let piece = `${JSON.stringify({ id, from, to }).slice(0, -1)},"data":[\n`;
  for (let i = 0; i < data.length; i++) {
    piece += `${JSON.stringify(data[i])}${i < data.length - 1 ? ',' : ''}\n`;
    if (piece.length >= chunkBytes) {
      yield piece;
      piece = '';
    }
  }
  yield `${piece}],"plans":${JSON.stringify(plans)},"totals":${JSON.stringify(totals)}}\n`;
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

/** The whole document, parsed: for the command line's table and CSV. */
export async function parseReport(body: Buffer): Promise<StoredUsageRevenueReport> {
  const chunks: Buffer[] = [];
  for await (const chunk of decompressedBody(body)) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as StoredUsageRevenueReport;
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
