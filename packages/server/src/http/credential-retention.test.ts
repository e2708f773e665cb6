import { connect } from 'node:net';
import { getHeapSnapshot } from 'node:v8';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectStatus, seedCatalog, seedCustomer } from '../test-support/builders.js';
import { describeEachDialect } from '../test-support/databases.js';
import { startTestServer, type TestServer } from '../test-support/server.js';

/**
 * Which of `needles` some string still reachable in this process's heap contains. A heap snapshot
 * holds only what is reachable (V8 collects garbage before taking it) and names every string by
 * its content. The needles are bytes, not strings, so that looking for them does not plant them.
 */
async function heldInHeap(needles: Buffer[]): Promise<boolean[]> {
  const found = needles.map(() => false);
  const overlap = Math.max(...needles.map((needle) => needle.length));
  let tail = Buffer.alloc(0);
  for await (const chunk of getHeapSnapshot()) {
    const text = Buffer.concat([tail, Buffer.from(chunk as Buffer)]);
    needles.forEach((needle, i) => {
      if (text.includes(needle)) found[i] = true;
    });
    tail = text.subarray(text.length - overlap);
  }
  return found;
}

/**
 * One request on a connection of its own, answered with its status. Written as bytes, with the
 * credential as bytes: the client is this process too, and a string of its own holding the
 * credential would be found in the heap as surely as one the server kept.
 */
function send(input: { port: number; method: string; path: string; credential: Buffer; body?: string }) {
  return new Promise<number>((resolve, reject) => {
    const body = Buffer.from(input.body ?? '');
    const head = `${input.method} ${input.path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n`;
    const type = body.length > 0 ? `content-type: application/json\r\ncontent-length: ${body.length}\r\n` : '';
    const socket = connect(input.port, '127.0.0.1');
    // Not `end`: Node's server drops what is still to answer once the client half-closes.
    socket.write(
      Buffer.concat([
        Buffer.from(`${head}${type}authorization: Bearer `),
        input.credential,
        Buffer.from('\r\n\r\n'),
        body,
      ]),
    );
    const answer: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => answer.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(Buffer.concat(answer).toString('latin1'))?.[1])));
  });
}

describeEachDialect('credentials in memory', (dialect) => {
  let server: TestServer;
  let port: number;
  beforeAll(async () => {
    server = await startTestServer({ dialect });
    await seedCatalog(server);
    port = Number(new URL(await server.listen()).port);
  });
  afterAll(() => server.close());

  it('once its requests are answered, the server keeps no secret key and no customer token it was presented', async () => {
    // The credentials as bytes: the strings of their creation's answers are garbage once this returns.
    const created = async () => {
      const { secret } = expectStatus<{ secret: string }>(
        await server.request({ method: 'POST', url: '/v1/api-keys', body: { name: 'held', scopes: ['admin'] } }),
        201,
      );
      const { id } = await seedCustomer(server, { plan: 'pro' });
      const { token } = expectStatus<{ token: string }>(
        await server.request({ method: 'POST', url: '/v1/customer-tokens', body: { customer: id } }),
        201,
      );
      return { customer: id, secret: Buffer.from(secret), token: Buffer.from(token) };
    };
    const { customer, secret, token } = await created();
    const statuses: number[] = [];
    for (const credential of [secret, token, secret, token]) {
      // The check's own path, and a routed one.
      const body = JSON.stringify({ customer, feature: 'sso' });
      statuses.push(await send({ port, method: 'POST', path: '/v1/check', credential, body }));
      statuses.push(await send({ port, method: 'GET', path: `/v1/customers/${customer}/entitlements`, credential }));
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    // The last string a regular expression ran on stays referenced until the next one runs.
    /x/.test('x');
    // Their random parts: a secret's body, a token's signature.
    const needles = [secret.subarray('km_sk_'.length), token.subarray(token.lastIndexOf('.') + 1)];
    expect(await heldInHeap(needles)).toEqual([false, false]);
  });
});
