import type { IngestResult } from '@keymaster/contract';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCustomer, uniqueKey } from '../../test-support/builders.js';
import { describeEachDialect } from '../../test-support/databases.js';
import { expectProblem } from '../../test-support/expect-problem.js';
import { startTestServer, type TestServer } from '../../test-support/server.js';

describeEachDialect('POST /v1/events', (dialect) => {
  let server: TestServer;
  let customer: string;
  beforeAll(async () => {
    server = await startTestServer({ dialect, start: '2026-06-15T12:00:00.000Z' });
    customer = (await seedCustomer(server)).id;
  });
  afterAll(() => server.close());

  const send = (body: unknown, contentType = 'application/json') =>
    server.request({
      method: 'POST',
      url: '/v1/events',
      body: JSON.stringify(body),
      headers: { 'content-type': contentType },
    });
  const ingest = async (body: unknown, contentType?: string) =>
    expectStatus<IngestResult>(await send(body, contentType), 200);
  const stored = async () =>
    Number(
      (
        await server.keymaster.database.db
          .selectFrom('events')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const event = (overrides: Record<string, unknown> = {}) => ({
    id: uniqueKey('evt'),
    customer,
    type: 'api_call',
    properties: { endpoint: '/search' },
    ...overrides,
  });

  it('stores every event once and answers the counts', async () => {
    const before = await stored();
    const batch = [event(), event(), event({ timestamp: '2026-06-15T11:59:00Z' })];
    expect(await ingest({ events: batch })).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(await stored()).toBe(before + 3);
  });

  it('counts a resent batch as duplicates, not again', async () => {
    const batch = [event(), event()];
    await ingest({ events: batch });
    const before = await stored();
    expect(await ingest({ events: batch })).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
    expect(await stored()).toBe(before);
  });

  it('counts a repeat within one batch as a duplicate', async () => {
    const one = event();
    expect(await ingest({ events: [one, one, event()] })).toEqual({ accepted: 2, duplicates: 1, rejected: [] });
  });

  it('reports each bad event by index and stores the others', async () => {
    const before = await stored();
    const result = await ingest({
      events: [
        event(),
        { customer, type: 'api_call' },
        event({ timestamp: 'not a time' }),
        event({ customer: 'nobody-knows-me' }),
        event({ timestamp: '2026-06-16T12:00:00Z' }),
        'not an event',
        event(),
      ],
    });
    expect(result.accepted).toBe(2);
    expect(result.duplicates).toBe(0);
    expect(result.rejected).toEqual([
      { index: 1, error: '/id: is required' },
      { index: 2, error: '/timestamp: must be an ISO-8601 time' },
      { index: 3, error: 'unknown customer "nobody-knows-me"' },
      { index: 4, error: '/timestamp: is too far in the future' },
      { index: 5, error: 'must be an object' },
    ]);
    expect(await stored()).toBe(before + 2);
  });

  it('takes late events with their own time', async () => {
    expect(await ingest({ events: [event({ timestamp: '2025-12-31T23:59:59Z' })] })).toMatchObject({ accepted: 1 });
  });

  it('refuses more than 1,000 events in one request, storing none', async () => {
    const before = await stored();
    const events = Array.from({ length: 1001 }, () => event());
    expectProblem(await send({ events }), { status: 400, code: 'validation_failed', path: '/events' });
    expect(await stored()).toBe(before);
  });

  it('refuses a request without an events list', async () => {
    expectProblem(await send({ event: event() }), { status: 400, code: 'validation_failed' });
  });

  it('refuses a body that is not JSON, or poisons prototypes, storing none', async () => {
    const before = await stored();
    const raw = (body: string, contentType = 'application/json') =>
      server.request({ method: 'POST', url: '/v1/events', body, headers: { 'content-type': contentType } });
    expectProblem(await raw('{"events": ['), { status: 400, code: 'malformed_request' });
    expectProblem(await raw('{"events": [], "__proto__": {"admin": true}}'), {
      status: 400,
      code: 'malformed_request',
    });
    expectProblem(await raw('', 'application/json'), { status: 400, code: 'validation_failed', path: '/events' });
    expectProblem(await raw('events', 'text/plain'), { status: 415, code: 'unsupported_media_type' });
    expect(await stored()).toBe(before);
  });

  it('answers a refused body with the whole problem, also when a thread read it', async () => {
    // On a SQLite file the body is read on the planning thread: its domain error crosses over whole.
    const raw = (body: string, contentType = 'application/json') =>
      server.request({ method: 'POST', url: '/v1/events', body, headers: { 'content-type': contentType } });
    const poisoned = expectProblem(await raw('{"events": [], "__proto__": {"admin": true}}'), {
      status: 400,
      code: 'malformed_request',
    });
    expect(poisoned.detail).toBe('Object contains forbidden prototype property');
    expect(poisoned.errors).toBeUndefined();
    const unknownField = expectProblem(await raw('{"events": [], "colour": "red"}'), {
      status: 400,
      code: 'validation_failed',
    });
    expect(unknownField.detail).toBe('/colour: is not a known field');
    expect(unknownField.errors).toEqual([{ path: '/colour', message: 'is not a known field' }]);
    const text = expectProblem(await raw('events', 'text/plain'), { status: 415, code: 'unsupported_media_type' });
    expect(text.detail).toBe('Unsupported Media Type: text/plain');
  });

  it('counts each event exactly once when the same batch races in concurrently', async () => {
    const batch = Array.from({ length: 50 }, () => event());
    const results = await Promise.all(Array.from({ length: 6 }, () => ingest({ events: batch })));
    expect(results.reduce((sum, r) => sum + r.accepted, 0)).toBe(50);
    expect(results.reduce((sum, r) => sum + r.duplicates, 0)).toBe(250);
  });

  const cloudEvent = (overrides: Record<string, unknown> = {}) => ({
    specversion: '1.0',
    id: uniqueKey('ce'),
    source: '/llm-gateway',
    type: 'llm.tokens',
    subject: customer,
    time: '2026-06-15T11:00:00Z',
    data: { tokens: 1200, model: 'large' },
    ...overrides,
  });

  it('takes one CloudEvent as application/cloudevents+json', async () => {
    const ce = cloudEvent();
    expect(await ingest(ce, 'application/cloudevents+json')).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    expect(await ingest(ce, 'application/cloudevents+json')).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
  });

  it('takes a CloudEvents batch, with source + id as the identity', async () => {
    const id = uniqueKey('ce');
    const result = await ingest(
      [cloudEvent({ id }), cloudEvent({ id, source: '/other-producer' }), cloudEvent({ subject: undefined })],
      'application/cloudevents-batch+json',
    );
    expect(result).toEqual({ accepted: 2, duplicates: 0, rejected: [{ index: 2, error: '/subject: is required' }] });
  });

  it('refuses a CloudEvents batch that is not a list', async () => {
    expectProblem(await send({ events: [] }, 'application/cloudevents-batch+json'), {
      status: 400,
      code: 'validation_failed',
    });
  });
});
