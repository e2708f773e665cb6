import { connect, type Socket } from 'node:net';
import type { Problem } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer, testAdminKey } from '../test-support/server.js';
import { maxUrlLength } from './client-errors.js';
import { maxJsonDepth, parseJson } from './json-body.js';

/**
 * The limits on what one request may hold or take: its target's length, its JSON's depth, how
 * long it may take to arrive. (Header size: client-errors.test.ts; body size: errors.test.ts;
 * open streams per credential: modules/stream/credentials.test.ts; rate limits: rate-limit.test.ts.)
 */

const nested = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

describe('the slow-client timeouts', () => {
  it('are 10 s for the headers and 60 s for the whole request unless set', () => {
    expect(loadConfig({})).toMatchObject({ headersTimeoutMs: 10_000, requestTimeoutMs: 60_000 });
    expect(loadConfig({ KEYMASTER_HEADERS_TIMEOUT_MS: '2000', KEYMASTER_REQUEST_TIMEOUT_MS: '5000' })).toMatchObject({
      headersTimeoutMs: 2000,
      requestTimeoutMs: 5000,
    });
  });

  it('refuse at start a headers timeout longer than the request timeout, or out of range', () => {
    expect(() => loadConfig({ KEYMASTER_HEADERS_TIMEOUT_MS: '70000' })).toThrow(
      /KEYMASTER_HEADERS_TIMEOUT_MS must not be longer than KEYMASTER_REQUEST_TIMEOUT_MS/,
    );
    expect(() => loadConfig({ KEYMASTER_REQUEST_TIMEOUT_MS: '10' })).toThrow(
      /KEYMASTER_REQUEST_TIMEOUT_MS must be an integer from 100/,
    );
  });
});

describe('the JSON depth limit', () => {
  it(`parses ${maxJsonDepth} levels of objects and arrays, and refuses one more as malformed_request`, () => {
    expect(parseJson(nested(maxJsonDepth))).toBeDefined();
    const objects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
    expect(parseJson(objects(maxJsonDepth))).toBeDefined();
    for (const text of [nested(maxJsonDepth + 1), objects(maxJsonDepth + 1)]) {
      expect(() => parseJson(text)).toThrow(
        expect.objectContaining({
          code: 'malformed_request',
          message: `The JSON body nests objects and arrays deeper than ${maxJsonDepth} levels.`,
        }),
      );
    }
  });

  it('refuses a million levels at once, whatever follows them, without running out of stack', () => {
    const started = performance.now();
    expect(() => parseJson('['.repeat(1_000_000))).toThrow(/deeper than/);
    expect(() => parseJson(nested(1_000_000))).toThrow(/deeper than/);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ a: '['.repeat(500), b: `\\"${'{'.repeat(500)}`, c: [[1]] });
    expect(parseJson(text)).toEqual(JSON.parse(text));
  });
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent. */
  text: string;
  /** Milliseconds from the first byte sent to the connection's end. */
  ms: number;
}

/**
 * Opens a connection, lets `write` send what it wants (and as slowly), and reads until the
 * server ends the connection.
 */
function rawExchange(port: number, write: (socket: Socket) => void): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const started = performance.now();
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: rest.join('\r\n\r\n'),
        text,
        ms: performance.now() - started,
      });
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('the server kept the connection 10 s')));
    write(socket);
  });
}

/** Writes `text` a few bytes at a time, every `everyMs`, until the socket closes. */
function dribble(socket: Socket, text: string, everyMs: number): void {
  let sent = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= text.length) return clearInterval(timer);
    socket.write(text.slice(sent, sent + 2));
    sent += 2;
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
}

describeEachDialect('resource limits of one request', (dialect) => {
  let server: TestServer;
  let port: number;
  let customer: string;
  beforeAll(async () => {
    server = await startTestServer({
      dialect,
      env: { KEYMASTER_HEADERS_TIMEOUT_MS: '500', KEYMASTER_REQUEST_TIMEOUT_MS: '1000' },
    });
    await seedCatalog(server);
    customer = (await seedCustomer(server, { plan: 'pro' })).id;
    port = Number(new URL(await server.listen()).port);
  });
  afterAll(() => server.close());

  describe(`a request target longer than ${maxUrlLength} characters`, () => {
    const longQuery = (url: string, length: number) => `${url}?pad=${'p'.repeat(length - url.length - 5)}`;

    it.each([
      ['GET', '/v1/features'],
      ['POST', '/v1/check'],
      ['POST', '/v1/consume'],
      ['GET', '/nowhere'],
    ])('%s %s: 414 uri_too_long, one character over and not at the limit', async (method, url) => {
      const body = method === 'POST' ? { customer, feature: 'sso' } : undefined;
      const atLimit = await server.request({ method: method as 'GET', url: longQuery(url, maxUrlLength), body });
      expect(atLimit.statusCode).not.toBe(414);
      const over = await server.request({ method: method as 'GET', url: longQuery(url, maxUrlLength + 1), body });
      expect(over.statusCode).toBe(414);
      expect(over.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = over.json<Problem>();
      expect(problem).toMatchObject({ status: 414, code: 'uri_too_long', title: 'URI Too Long' });
      expect(problem.detail).toContain(String(maxUrlLength));
      expect(problem.detail).not.toContain('ppp');
      expect(over.headers['x-request-id']).toBe(problem.request_id);
    });

    it('over a socket too, below the 16 KiB that Node refuses with 431', async () => {
      const answer = await rawExchange(port, (socket) =>
        socket.end(
          `GET /v1/features?pad=${'p'.repeat(12_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${testAdminKey}\r\n\r\n`,
        ),
      );
      expect(answer.status).toBe(414);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'uri_too_long' });
    });
  });

  describe('JSON nested too deeply, on every kind of route', () => {
    const deep = `{"customer":"x","feature":"sso","context":{"a":${nested(maxJsonDepth)}}}`;

    it.each([
      ['/v1/check', 'the plain dispatch'],
      ['/v1/features', 'the router'],
      ['/v1/events', 'the events reader'],
    ])('%s (%s): 400 malformed_request naming the depth', async (url) => {
      const answer = await server.request({
        method: 'POST',
        url,
        body: deep,
        headers: { 'content-type': 'application/json' },
      });
      expect(answer.statusCode).toBe(400);
      expect(answer.json<Problem>()).toMatchObject({
        code: 'malformed_request',
        detail: `The JSON body nests objects and arrays deeper than ${maxJsonDepth} levels.`,
      });
    });

    it('an OFREP evaluation: 400 PARSE_ERROR in OFREP shape', async () => {
      const answer = await server.request({
        method: 'POST',
        url: '/ofrep/v1/evaluate/flags/sso',
        body: `{"context":{"targetingKey":"${customer}","a":${nested(maxJsonDepth)}}}`,
        headers: { 'content-type': 'application/json' },
      });
      expect(answer.statusCode).toBe(400);
      expect(answer.json()).toMatchObject({ errorCode: 'PARSE_ERROR', errorDetails: expect.stringMatching(/deeper/) });
    });

    it('a body within the limit is parsed, and its fields held to their own schema (a context: 32 levels)', async () => {
      const answer = await server.request({
        method: 'POST',
        url: '/v1/check',
        body: `{"customer":"${customer}","feature":"sso","context":{"a":${nested(maxJsonDepth - 3)}}}`,
        headers: { 'content-type': 'application/json' },
      });
      expect(answer.statusCode).toBe(400);
      expect(answer.json<Problem>()).toMatchObject({
        code: 'validation_failed',
        detail: expect.stringMatching(/^\/context\/a\/0.*: must not nest deeper than 32 levels$/),
      });
    });
  });

  describe('slow clients', () => {
    it('headers that do not arrive within KEYMASTER_HEADERS_TIMEOUT_MS: 408 request_timeout, connection closed', async () => {
      const answer = await rawExchange(port, (socket) =>
        dribble(socket, `GET /v1/features HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${testAdminKey}\r\n`, 100),
      );
      expect(answer.status).toBe(408);
      expect(answer.headers.connection).toBe('close');
      expect(JSON.parse(answer.body)).toMatchObject({ status: 408, code: 'request_timeout' });
      // Cut off after the 500 ms allowed, checked every 125 ms; not after the whole dribble (~5 s).
      expect(answer.ms).toBeGreaterThanOrEqual(450);
      expect(answer.ms).toBeLessThan(2500);
    });

    it('a connection that sends nothing: cut off the same way', async () => {
      const answer = await rawExchange(port, () => {});
      expect(answer.status).toBe(408);
      expect(answer.ms).toBeGreaterThanOrEqual(450);
      expect(answer.ms).toBeLessThan(2500);
    });

    it.each([
      ['/v1/check', 'the plain dispatch'],
      ['/v1/features', 'the router'],
    ])(
      'a body that does not arrive within KEYMASTER_REQUEST_TIMEOUT_MS on %s (%s): 408, connection closed',
      async (url) => {
        const body = JSON.stringify({ customer, feature: 'sso', context: { padding: 'p'.repeat(200) } });
        const answer = await rawExchange(port, (socket) => {
          socket.write(
            `POST ${url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${testAdminKey}\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
          );
          dribble(socket, body, 100);
        });
        expect(answer.status).toBe(408);
        expect(JSON.parse(answer.body)).toMatchObject({ code: 'request_timeout' });
        expect(answer.ms).toBeGreaterThanOrEqual(950);
        expect(answer.ms).toBeLessThan(3000);
      },
    );

    it('a prompt client on the same server is answered, and an idle kept-alive connection is not cut off', async () => {
      const answer = await rawExchange(port, (socket) => {
        socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        // Idle for longer than either timeout between two requests on one connection.
        setTimeout(() => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 1500);
      });
      const statuses = [...answer.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
      expect(statuses).toEqual(['200', '200']);
    });
  });
});
