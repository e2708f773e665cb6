import { connect } from 'node:net';
import type { Problem } from '@keymaster/contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedCatalog } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer, testAdminKey } from '../test-support/server.js';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes bytes on a fresh connection and reads until the server closes it. */
function raw(port: number, request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no answer in 10 s')));
    socket.end(request);
  });
}

/** Asserts a problem document as a client reads it off the wire. */
function expectWireProblem(answer: { status: number; type: string | null; body: string; requestId: string | null }) {
  expect(answer.type).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(answer.body) as Problem;
  expect(problem).toMatchObject({ status: answer.status, request_id: answer.requestId });
  expect(problem.code).toMatch(/^[a-z_]+$/);
  return problem;
}

const longest = 201; // 200 characters of echoed input and the ellipsis

describeEachDialect('errors a client can provoke over a socket', (dialect) => {
  let server: TestServer;
  let port: number;
  let base: string;
  const auth = { authorization: `Bearer ${testAdminKey}` };
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
    base = await server.listen();
    port = Number(new URL(base).port);
  });
  afterAll(() => server.close());

  describe("what Node's parser refuses", () => {
    it('a 70 kB header: 431 headers_too_large as a problem document, then the connection closes', async () => {
      const answer = await raw(
        port,
        `GET /v1/features HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${testAdminKey}\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`,
      );
      expect(answer.status).toBe(431);
      expect(answer.headers.connection).toBe('close');
      expect(Number(answer.headers['content-length'])).toBe(Buffer.byteLength(answer.body));
      const problem = expectWireProblem({
        status: 431,
        type: answer.headers['content-type'] ?? null,
        body: answer.body,
        requestId: answer.headers['x-request-id'] ?? null,
      });
      expect(problem).toMatchObject({ code: 'headers_too_large', title: 'Request Header Fields Too Large' });
    });

    it('a 20 kB path is too large a request line: 431 too', async () => {
      const answer = await raw(port, `GET /v1/${'p'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(answer.status).toBe(431);
      expect(answer.body).not.toContain('ppp');
    });

    it.each([
      ['a request line that is not HTTP', 'GARBAGE\r\n\r\n'],
      ['a header name with a space', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'],
      [
        'a body longer than its chunk says',
        `POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${testAdminKey}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      ],
    ])('%s: 400 malformed_request as a problem document', async (_name, request) => {
      const answer = await raw(port, request);
      expect(answer.status).toBe(400);
      const problem = expectWireProblem({
        status: 400,
        type: answer.headers['content-type'] ?? null,
        body: answer.body,
        requestId: answer.headers['x-request-id'] ?? null,
      });
      expect(problem.code).toBe('malformed_request');
    });

    it('a well-formed request on the same server still answers', async () => {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    });
  });

  describe('client input repeated in an error is cut to 200 characters', () => {
    const problemOf = async (response: Response) => {
      const body = await response.text();
      return expectWireProblem({
        status: response.status,
        type: response.headers.get('content-type'),
        body,
        requestId: response.headers.get('x-request-id'),
      });
    };

    it('a 5 kB path that matches no route: 404 whose detail holds the start of it', async () => {
      const path = `/nowhere/${'c'.repeat(5_000)}`;
      const problem = await problemOf(await fetch(`${base}${path}`, { headers: auth }));
      expect(problem.code).toBe('not_found');
      expect(problem.detail).toContain(`GET /nowhere/ccc`);
      expect(problem.detail.endsWith('….')).toBe(true);
      expect(problem.detail.length).toBeLessThanOrEqual(longest + 'No route .'.length);
    });

    it.each([
      ['a malformed URL', `/v1/features/${'%'.repeat(5_000)}`],
      ['a path parameter longer than any route takes', `/v1/customers/${'c'.repeat(5_000)}/grants`],
    ])('%s: 400, the detail cut', async (_name, path) => {
      const response = await fetch(`${base}${path}`, { headers: auth });
      const problem = await problemOf(response);
      expect(response.status).toBe(400);
      expect(problem.detail.length).toBeLessThanOrEqual(longest + 100);
    });

    it('a 10,000-character field name: the field error and the detail hold the start of it', async () => {
      const field = 'f'.repeat(10_000);
      const response = await fetch(`${base}/v1/features`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'x', name: 'X', type: 'boolean', [field]: 1 }),
      });
      const problem = await problemOf(response);
      expect(problem.code).toBe('validation_failed');
      expect(problem.errors).toEqual([{ path: `/${'f'.repeat(199)}…`, message: 'is not a known field' }]);
      expect(problem.detail.length).toBeLessThan(longest + 50);
    });

    it('50,000 unknown fields: the first 50, and how many more', async () => {
      const body = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`u${i}`, 1]));
      const response = await fetch(`${base}/v1/features`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ key: 'x', name: 'X', type: 'boolean', ...body }),
      });
      const problem = await problemOf(response);
      expect(problem.errors).toHaveLength(50);
      expect(problem.detail).toMatch(/; and 49950 more$/);
    });

    it.each(['/v1/check', '/v1/features', '/v1/events'])(
      '%s: a 10 kB media type, and 10 kB of broken JSON',
      async (url) => {
        const type = `application/${'x'.repeat(10_000)}`;
        const media = await fetch(`${base}${url}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': type },
          body: '{}',
        });
        expect(media.status).toBe(415);
        expect((await problemOf(media)).detail.length).toBeLessThanOrEqual(longest + 30);
        const broken = await fetch(`${base}${url}`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: `{"key": "${'k'.repeat(10_000)}" oops}`,
        });
        expect(broken.status).toBe(400);
        expect((await problemOf(broken)).detail.length).toBeLessThanOrEqual(longest);
      },
    );
  });
});
