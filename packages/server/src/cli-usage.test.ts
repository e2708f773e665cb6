import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision, GaugeLevel } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importEventLines } from './modules/events/import-lines.js';
import { check, expectStatus, publishCatalog, seedCustomer } from './test-support/builders.js';
import { runKeymaster } from './test-support/cli.js';
import { describeEachDialect } from './test-support/databases.js';
import { startTestServer, type TestServer } from './test-support/server.js';
import { startSmtpListener } from './test-support/smtp-listener.js';

/** The real command line, from the build, on the test server's database. */
function keymaster(server: TestServer, args: string[], stdin?: string) {
  return runKeymaster(server.target, args, stdin === undefined ? {} : { stdin });
}

/** Waits for the server's change feed to bring what another process wrote (it polls every 50 ms). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeEachDialect('command line: events import, usage show and set', (dialect) => {
  let server: TestServer;
  let dir: string;
  let customer: string;
  beforeAll(async () => {
    // Real time: the command line takes the system clock, and events are judged against it.
    server = await startTestServer({ dialect, start: new Date().toISOString() });
    dir = mkdtempSync(join(tmpdir(), 'keymaster-cli-'));
    await publishCatalog(server, {
      features: [
        { key: 'calls', name: 'Calls', type: 'metered', meter: { event_type: 'call', aggregation: 'count' } },
        { key: 'seats', name: 'Seats', type: 'gauge' },
      ],
      plans: [
        {
          key: 'team',
          name: 'Team',
          entitlements: [
            { feature: 'calls', limit: 100, reset: 'month' },
            { feature: 'seats', limit: 5 },
          ],
        },
      ],
    });
    customer = (await seedCustomer(server, { plan: 'team' })).id;
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports a JSON Lines file in batches, refuses bad lines by number, and a server sees the usage', async () => {
    const lines = [
      JSON.stringify({ id: 'a1', customer, type: 'call' }),
      '',
      JSON.stringify({ id: 'a2', customer, type: 'call' }),
      'not json',
      JSON.stringify({ id: 'a3', customer: 'nobody', type: 'call' }),
      JSON.stringify({ id: 'a1', customer, type: 'call' }),
      JSON.stringify({ customer, type: 'call' }),
      JSON.stringify({ id: 'a4', customer, type: 'call', timestamp: new Date(Date.now() - 60_000).toISOString() }),
    ];
    const file = join(dir, 'events.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    // A dry run reads and checks everything, counts duplicates within the file, and writes nothing.
    const dry = await keymaster(server, ['events', 'import', file, '--batch-size', '2', '--dry-run']);
    expect(dry.stdout.trim().split('\n').at(-1)).toBe(
      '7 events: 3 would be stored, 1 duplicates, 3 rejected. (dry run: nothing written)',
    );
    expect(dry.code).toBe(1);
    expect((await check(server, { customer, feature: 'calls' })).usage).toBe(0);

    const first = await keymaster(server, ['events', 'import', file, '--batch-size', '2']);
    expect(first.stdout.trim().split('\n')).toEqual([
      "line 4: not JSON: Unexpected token 'o': not valid JSON",
      'line 5: unknown customer "nobody"',
      'line 7: /id: is required',
      '7 events: 3 accepted, 1 duplicates, 3 rejected.',
    ]);
    expect(first.code).toBe(1);
    const seen = await eventually(
      () => check(server, { customer, feature: 'calls' }),
      (d) => d.usage === 3,
    );
    expect(seen).toMatchObject({ usage: 3, balance: 97 });

    // Run again (a backfill resumed from the start): what was stored counts once.
    const again = await keymaster(server, ['events', 'import', '-'], `${lines.join('\n')}\n`);
    expect(again.stdout.trim().split('\n').at(-1)).toBe('7 events: 0 accepted, 4 duplicates, 3 rejected.');
    expect((await check(server, { customer, feature: 'calls' })).usage).toBe(3);
    const dryAgain = await keymaster(server, ['events', 'import', file, '--dry-run']);
    expect(dryAgain.stdout.trim().split('\n').at(-1)).toBe(
      '7 events: 0 would be stored, 4 duplicates, 3 rejected. (dry run: nothing written)',
    );
  });

  it('imports CloudEvents, de-duplicated by source and id', async () => {
    const cloudEvent = (source: string) =>
      JSON.stringify({ specversion: '1.0', id: 'ce-1', source, type: 'call', subject: customer });
    const result = await keymaster(
      server,
      ['events', 'import', '-', '--cloudevents'],
      [cloudEvent('/a'), cloudEvent('/b'), cloudEvent('/a')].join('\n'),
    );
    expect(result.stdout.trim()).toBe('3 events: 2 accepted, 1 duplicates, 0 rejected.');
    expect(result.code).toBe(0);
    const seen = await eventually(
      () => check(server, { customer, feature: 'calls' }),
      (d) => d.usage === 5,
    );
    expect(seen.usage).toBe(5);
  });

  it('shows usage history whose total is what check reports, and refuses a bad range by option', async () => {
    const usage = (await check(server, { customer, feature: 'calls' })).usage;
    const json = JSON.parse((await keymaster(server, ['usage', 'history', customer, 'calls', '--json'])).stdout) as {
      total: number;
      current_period: boolean;
      buckets: { usage: number }[];
    };
    expect(json).toMatchObject({ total: usage, current_period: true });
    expect(json.buckets.reduce((sum, bucket) => sum + bucket.usage, 0)).toBe(usage);
    const hour = 3_600_000;
    const [from, to] = [Date.now() - 3 * hour, Date.now() + hour];
    const table = await keymaster(server, [
      ...['usage', 'history', customer, 'calls', '--granularity', 'hour'],
      ...['--from', new Date(from).toISOString(), '--to', new Date(to).toISOString()],
    ]);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]!.split(/\s{2,}/)).toEqual(['start', 'end', 'usage']);
    const buckets = Math.ceil(to / hour) - Math.floor(from / hour);
    expect(lines).toHaveLength(1 + buckets + 1);
    expect(lines.at(-1)).toMatch(new RegExp(`^count over .+: ${usage}$`));
    const bad = await keymaster(server, ['usage', 'history', customer, 'calls', '--from', 'yesterday']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--from: must match format "date-time"');
    const gauge = await keymaster(server, ['usage', 'history', customer, 'seats']);
    expect(gauge.code).toBe(1);
  });

  it('sets and moves a gauge, refusing what the API refuses', async () => {
    expect(await keymaster(server, ['usage', 'set', customer, 'seats', '--set', '4'])).toMatchObject({
      code: 0,
      stdout: `${customer} seats: 4\n`,
    });
    expect((await keymaster(server, ['usage', 'set', customer, 'seats', '--delta', '-1'])).stdout).toBe(
      `${customer} seats: 3\n`,
    );
    const below = await keymaster(server, ['usage', 'set', customer, 'seats', '--delta', '-9']);
    expect(below.code).toBe(1);
    expect(below.stderr).toContain('/delta: would take the level below 0');
    const negative = await keymaster(server, ['usage', 'set', customer, 'seats', '--set', '-1']);
    expect(negative.code).toBe(1);
    expect(negative.stderr).toContain('--set: must be >= 0');
    const metered = await keymaster(server, ['usage', 'set', customer, 'calls', '--set', '1']);
    expect(metered.stderr).toContain('only gauges are set');
    const level = await eventually(
      () => check(server, { customer, feature: 'seats' }),
      (d: Decision) => d.usage === 3,
    );
    expect(level).toMatchObject({ usage: 3, balance: 2 });
    const stored = expectStatus<GaugeLevel>(
      await server.request({
        method: 'POST',
        url: `/v1/customers/${customer}/usage`,
        body: { feature: 'seats', delta: 0 },
      }),
      200,
    );
    expect(stored.usage).toBe(3);
  });

  it('shows usage, limit, balance and reset as check reports them, and the API document with --json', async () => {
    const shown = await keymaster(server, ['usage', 'show', customer]);
    expect(shown.code).toBe(0);
    const [header, ...rows] = shown.stdout.trim().split('\n');
    expect(header!.split(/\s{2,}/)).toEqual(['feature', 'type', 'usage', 'limit', 'balance', 'resets at', 'reason']);
    const calls = await check(server, { customer, feature: 'calls' });
    expect(rows.map((row) => row.trim().split(/\s+/))).toEqual([
      ['calls', 'metered', '5', '100', '95', calls.resets_at, 'entitled'],
      ['seats', 'gauge', '3', '5', '2', '-', 'entitled'],
    ]);
    const json = JSON.parse((await keymaster(server, ['usage', 'show', customer, '--json'])).stdout) as {
      entitlements: { feature: string; usage: number | null }[];
    };
    const api = expectStatus<typeof json>(
      await server.request({ method: 'GET', url: `/v1/customers/${customer}/entitlements` }),
      200,
    );
    expect(json.entitlements).toEqual(api.entitlements);
    const unknown = await keymaster(server, ['usage', 'show', 'nobody']);
    expect(unknown).toMatchObject({ code: 1, stderr: 'keymaster: Customer "nobody" does not exist.\n' });
  });

  it('reports usage against revenue as the API does, in CSV too, and refuses a backwards range', async () => {
    const now = Date.now();
    const range = ['--from', new Date(now - 86_400_000).toISOString(), '--to', new Date(now + 60_000).toISOString()];
    const json = await keymaster(server, ['report', 'usage-revenue', ...range, '--format', 'json']);
    expect(json.code, json.stderr).toBe(0);
    const document = JSON.parse(json.stdout) as { data: { customer: string; plan: string }[] };
    expect(document.data).toContainEqual(expect.objectContaining({ customer, plan: 'team' }));
    const csv = await keymaster(server, ['report', 'usage-revenue', ...range, '--format', 'csv']);
    expect(csv.stdout.split('\n')[0]).toBe('customer,plan,revenue,currency,features (usage/limit),flags');
    expect(csv.stdout).toContain(`${customer},team,0,`);
    const backwards = await keymaster(server, ['report', 'usage-revenue', '--from', range[3]!, '--to', range[1]!]);
    expect(backwards.code).toBe(1);
    expect(backwards.stderr).toContain('/querystring/to: must be after from');
  });
});

describe('importEventLines', () => {
  async function* linesOf(lines: string[]) {
    yield* lines;
  }

  it('sends full batches and maps each refusal back to its line across batches', async () => {
    const batches: unknown[][] = [];
    const summary = await importEventLines({
      lines: linesOf(['{"n":1}', '{"n":2}', '', '{"n":3}', '{"n":4}', '{"n":5}']),
      format: 'keymaster',
      batchSize: 2,
      ingest: async ({ events }) => {
        batches.push(events);
        // Refuse the second event of every batch.
        const rejected = events.length > 1 ? [{ index: 1, error: 'no' }] : [];
        return { accepted: events.length - rejected.length, duplicates: 0, rejected };
      },
    });
    expect(batches.map((batch) => batch.length)).toEqual([2, 2, 1]);
    expect(summary).toEqual({
      events: 5,
      accepted: 3,
      duplicates: 0,
      rejected: [
        { line: 2, error: 'no' },
        { line: 5, error: 'no' },
      ],
    });
  });

  it('refuses a batch size the API would refuse', async () => {
    for (const batchSize of [0, 1001, 1.5, Number.NaN]) {
      await expect(
        importEventLines({
          lines: linesOf([]),
          format: 'keymaster',
          batchSize,
          ingest: async () => ({ accepted: 0, duplicates: 0, rejected: [] }),
        }),
      ).rejects.toThrow(/batch size/);
    }
  });
});

describeEachDialect('command line: emails list', (dialect) => {
  let server: TestServer;
  let smtp: Awaited<ReturnType<typeof startSmtpListener>>;
  beforeAll(async () => {
    smtp = await startSmtpListener();
    server = await startTestServer({
      dialect,
      start: '2026-06-15T12:00:00.000Z',
      env: { KEYMASTER_SMTP_URL: smtp.url, KEYMASTER_EMAIL_FROM: 'billing@acme.test' },
    });
    await publishCatalog(server, {
      features: [{ key: 'calls', name: 'API calls', type: 'metered' }],
      plans: [{ key: 'solo', name: 'Solo', entitlements: [{ feature: 'calls', limit: 100, reset: 'month' }] }],
    });
  });
  afterAll(async () => {
    await server.close();
    await smtp.close();
  });

  it("prints a customer's emails as a table and as the API's documents; an unknown customer exits 1", async () => {
    const { id } = await seedCustomer(server, { plan: 'solo' });
    const rule = { feature: 'calls', type: 'percent', value: 80, customer: id };
    expectStatus(await server.request({ method: 'POST', url: '/v1/alert-rules', body: rule }), 201);
    const consume = { customer: id, feature: 'calls', quantity: 90 };
    expectStatus(await server.request({ method: 'POST', url: '/v1/consume', body: consume }), 200);
    smtp.answerNext({ accept: false, code: 451, message: 'Greylisted' });
    await server.keymaster.notifications.runDue();
    await server.keymaster.emails!.runDue();

    const table = await keymaster(server, ['emails', 'list', id]);
    expect(table.code, table.stderr).toBe(0);
    const [header, row, ...rest] = table.stdout.trimEnd().split('\n');
    expect(rest).toEqual([]);
    expect(header).toMatch(/^created\s+type\s+to\s+status\s+attempts\s+subject\s+last error$/);
    expect(row).toContain('usage.threshold_reached');
    expect(row).toContain('billing@acme.example');
    expect(row).toContain('pending (retry at 2026-06-15T12:01:00.000Z)');
    expect(row).toContain('You have used 80% of API calls');
    expect(row).toMatch(/451.*Greylisted/);

    const json = await keymaster(server, ['emails', 'list', id, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const api = expectStatus<{ data: unknown[] }>(
      await server.request({ method: 'GET', url: `/v1/customers/${id}/emails` }),
      200,
    );
    expect(JSON.parse(json.stdout)).toEqual(api.data);

    const unknown = await keymaster(server, ['emails', 'list', 'nobody-here']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('Customer "nobody-here" does not exist.');
    const badLimit = await keymaster(server, ['emails', 'list', id, '--limit', '0']);
    expect(badLimit.code).toBe(1);
    expect(badLimit.stderr).toContain('--limit');
  });
});
