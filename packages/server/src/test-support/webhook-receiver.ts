import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface ReceivedWebhook {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP receiver on 127.0.0.1 for webhook tests: records every request and answers as
 * `respond` says (200 by default; a respond that never ends the response makes it hang).
 */
export async function startReceiver(
  respond: (request: ReceivedWebhook, response: ServerResponse) => void = (_r, response) => response.end('ok'),
): Promise<{
  url: string;
  received: ReceivedWebhook[];
  respond: (handler: (request: ReceivedWebhook, response: ServerResponse) => void) => void;
  close(): Promise<void>;
}> {
  let handler = respond;
  const received: ReceivedWebhook[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const item = { path: request.url ?? '/', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(item);
      handler(item, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    respond: (next) => {
      handler = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Whether one of the request's signatures is the secret's, as `standardwebhooks` computes it —
 * its own `verify` also refuses a timestamp more than 5 minutes from the real time, which a test
 * that moves a manual clock days ahead cannot meet.
 */
export function signedWith(secret: string, received: ReceivedWebhook): boolean {
  const id = String(received.headers['webhook-id']);
  const timestamp = new Date(Number(received.headers['webhook-timestamp']) * 1000);
  const expected = new Webhook(secret).sign(id, timestamp, received.body);
  return String(received.headers['webhook-signature']).split(' ').includes(expected);
}
