import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveCommands } from './serve-commands.js';

/**
 * The baseline: a bare node:http server that reads the request body and answers every request
 * with the same JSON body (BARE_BODY, a real check answer copied from Keymaster), so the two
 * runs move the same bytes and differ only in the work done per request.
 */
const body = Buffer.from(process.env.BARE_BODY ?? '{"allowed":true}');
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) };

const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, headers);
    response.end(body);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

await serveCommands({
  port: (server.address() as AddressInfo).port,
  close: () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
});
