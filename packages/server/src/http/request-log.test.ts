import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer } from '../test-support/server.js';
import { openSse } from '../test-support/sse-client.js';
import { redactUrl } from './request-log.js';

describe('redactUrl', () => {
  it.each([
    ['/v1/stream?customer=acme&access_token=eyJa.b.c', '/v1/stream?customer=acme&access_token=[redacted]'],
    ['/v1/stream?access_token=eyJa.b.c&customer=acme', '/v1/stream?access_token=[redacted]&customer=acme'],
    ['/v1/stream?customer=acme&access%5Ftoken=eyJa.b.c', '/v1/stream?customer=acme&access%5Ftoken=[redacted]'],
    ['/v1/stream?%61ccess_token=eyJa.b.c#x', '/v1/stream?%61ccess_token=[redacted]'],
    [
      '/v1/stream?ACCESS_TOKEN=eyJa.b.c&access_token=eyJd.e.f',
      '/v1/stream?ACCESS_TOKEN=[redacted]&access_token=[redacted]',
    ],
    ['/v1/stream?customer=acme', '/v1/stream?customer=acme'],
    ['/v1/stream?customer=%E0%A4%A&%E0%A4%A=x', '/v1/stream?customer=%E0%A4%A&%E0%A4%A=x'],
    ['/v1/features', '/v1/features'],
  ])('%s', (url, logged) => expect(redactUrl(url)).toBe(logged));
});

/**
 * A log line as text, with every byte buffer in it decoded: pino writes a Buffer (an error's
 * `rawPacket`, say) as its list of byte values, where a plain search would not find a secret.
 */
function readable(line: string): string {
  const buffers: string[] = [];
  JSON.parse(line, (_key, value: unknown) => {
    const buffer = value as { type?: unknown; data?: unknown };
    if (buffer?.type === 'Buffer' && Array.isArray(buffer.data)) {
      buffers.push(Buffer.from(buffer.data as number[]).toString('latin1'));
    }
    return value;
  });
  return [line, ...buffers].join('\n');
}

describeEachDialect('request logs at LOG_LEVEL=trace', (dialect) => {
  const lines: string[] = [];
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer({ dialect, env: { LOG_LEVEL: 'trace' }, logs: (line) => lines.push(line) });
    await seedCatalog(server);
    base = await server.listen();
  });
  afterAll(() => server.close());

  it('carry no secret key and no customer token, whichever path and however a request presents them', async () => {
    const { secret } = expectStatus<{ secret: string }>(
      await server.request({ method: 'POST', url: '/v1/api-keys', body: { name: 'logged', scopes: ['admin'] } }),
      201,
    );
    const { id } = await seedCustomer(server, { plan: 'pro' });
    const { token } = expectStatus<{ token: string }>(
      await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: id } }),
      201,
    );
    const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });
    const check = { customer: id, feature: 'sso' };
    const post = (path: string, headers: Record<string, string>, body: unknown = check) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });
    const statuses = [
      // The check and consume fast paths, a secret key and a customer token.
      (await post('/v1/check', bearer(secret))).status,
      (await post('/v1/check', bearer(token))).status,
      (await post('/v1/check', bearer(token), { ...check, customer: 'someone_else' })).status,
      (await post('/v1/check', bearer(`${secret}x`))).status,
      (await post('/v1/consume', bearer(secret), { customer: id, feature: 'api_calls' })).status,
      // Routed requests.
      (await get('/v1/features', bearer(secret))).status,
      (await get(`/v1/customers/${id}/entitlements`, bearer(token))).status,
      (await get('/v1/customers/missing/entitlements', bearer(`${secret}x`))).status,
      // Credentials in the query: only a customer token on the stream is accepted, but none is logged.
      (await get(`/v1/stream?customer=${id}&access_token=${secret}`)).status,
      (await get(`/v1/customers/${id}/entitlements?access_token=${token}`)).status,
      (await get(`/v1/check?access_token=${token}`)).status,
    ];
    expect(statuses).toEqual([200, 200, 403, 401, 200, 200, 200, 401, 401, 401, 404]);
    // Streams: the token in the header, in ?access_token=, and in ?access%5Ftoken= (decoded alike).
    for (const url of [
      `${base}/v1/stream?customer=${id}`,
      `${base}/v1/stream?customer=${id}&access_token=${token}`,
      `${base}/v1/stream?customer=${id}&access%5Ftoken=${token}`,
    ]) {
      const sse = await openSse({ url, headers: url.includes('token=') ? {} : bearer(token) });
      expect(sse.status).toBe(200);
      sse.close();
      await sse.ended;
    }
    // A request Node's parser refuses (a header name with a space), its credential in the bytes.
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(new URL(base).port), '127.0.0.1', () => {
        socket.write(
          `GET /v1/features HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secret}\r\nBad Header: 1\r\n\r\n`,
        );
      });
      socket.on('data', () => undefined);
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });

    // Every request above is logged once complete (a stream once the server sees it closed).
    const completed = () => lines.filter((line) => line.includes('"request completed"')).length;
    for (let waited = 0; completed() < statuses.length + 3 && waited < 3000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(completed()).toBeGreaterThanOrEqual(statuses.length + 3);
    expect(lines.some((line) => line.includes('refused a request Node could not parse'))).toBe(true);
    // The secret's random part and the token's signature: a log holding either holds a credential.
    const credentials = [secret.slice('km_sk_'.length), token.split('.')[2]!];
    const leaks = lines.filter((line) => credentials.some((credential) => readable(line).includes(credential)));
    expect(leaks).toEqual([]);
  });
});
