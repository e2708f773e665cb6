import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seedCatalog, uniqueKey } from '../../test-support/builders.js';
import { runKeymaster } from '../../test-support/cli.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

const columns = [
  'seq',
  'at',
  'actor_type',
  'actor_id',
  'request_id',
  'action',
  'target_type',
  'target_id',
  'customer_id',
  'data',
  'data_digest',
  'prev_hash',
  'hash',
];
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** RFC 4180, read independently of the writer: quoted cells may hold commas, quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const lines: string[][] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\n') {
      cells.push(cell);
      lines.push(cells);
      cells = [];
      cell = '';
    } else cell += c;
  }
  return lines;
}

describeEachDialect('audit export', (dialect) => {
  let server: TestServer;
  const customer = uniqueKey('cus');
  const start = Date.parse('2026-01-15T12:00:00.000Z');
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: new Date(start).toISOString() });
    await seedCatalog(server);
    server.clock.set(start + 3_600_000);
    // A name that needs quoting in CSV: a comma, quotes, a line break.
    const created = await server.request({
      method: 'PUT',
      url: `/v1/customers/${customer}`,
      body: { name: 'Ada, "the first"\nLovelace' },
    });
    expect(created.statusCode).toBeLessThan(300);
    server.clock.set(start + 7_200_000);
    await server.request({ method: 'PUT', url: `/v1/customers/${customer}`, body: { email: 'ada@example.com' } });
  });
  afterAll(() => server.close());

  const stored = () => server.keymaster.database.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();

  it('prints every row in seq order with every column, as NDJSON whose hashes can be recomputed', async () => {
    const run = await keymaster(['audit', 'export', '--format', 'ndjson']);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const rows = await stored();
    expect(lines.map((line) => line.seq)).toEqual(rows.map((row) => row.seq));
    for (const [i, line] of lines.entries()) {
      const row = rows[i]!;
      expect(Object.keys(line)).toEqual(columns);
      expect(line).toMatchObject({ ...row, at: new Date(row.at).toISOString(), data: JSON.parse(row.data!) });
      expect(sha256(canonicalize(line.data)!)).toBe(line.data_digest);
      const { data: _, prev_hash, hash, ...covered } = line;
      const recomputed = sha256(`${prev_hash}\n${canonicalize({ ...covered, at: Date.parse(line.at as string) })}`);
      expect(recomputed).toBe(hash);
    }
  }, 30_000);

  it('prints a time range as quoted CSV with a header', async () => {
    const from = new Date(start + 3_600_000).toISOString();
    const run = await keymaster([
      'audit',
      'export',
      '--from',
      from,
      '--to',
      new Date(start + 7_200_000).toISOString(),
      '--format',
      'csv',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const [header, ...lines] = parseCsv(run.stdout);
    expect(header).toEqual(columns);
    const created = (await stored()).filter((row) => row.at === start + 3_600_000);
    expect(created.map((row) => row.action)).toEqual(['customer.created']);
    expect(lines).toEqual(
      created.map((row) =>
        columns.map((column) => {
          const value = row[column as keyof typeof row];
          return column === 'at' ? new Date(row.at).toISOString() : value === null ? '' : String(value);
        }),
      ),
    );
    expect(JSON.parse(lines[0]![9]!)).toMatchObject({ after: { name: 'Ada, "the first"\nLovelace' } });
    const bad = await keymaster(['audit', 'export', '--from', 'yesterday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--from must be an ISO-8601 time');
  }, 30_000);

  /** The real command line, from the build, on the test server's database. */
  const keymaster = (args: string[]) => runKeymaster(server.target, args);
});
