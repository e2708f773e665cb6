import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seedCatalog } from '../../../server/src/test-support/builders.js';
import type { TestDialect } from '../../../server/src/test-support/databases.js';
import { startTestServer, type TestServer, testAdminKey } from '../../../server/src/test-support/server.js';

export { testAdminKey };

/**
 * A real Keymaster listening on a port (the SDK talks HTTP), seeded with the test catalog. `env`
 * adds configuration (e.g. KEYMASTER_CORS_ORIGINS); `start` sets the server's clock.
 */
export async function startLiveServer(input: {
  dialect: TestDialect;
  seed?: boolean;
  env?: Record<string, string>;
  start?: string;
}): Promise<{
  server: TestServer;
  url: string;
  close(): Promise<void>;
}> {
  const server = await startTestServer({ dialect: input.dialect, env: input.env, start: input.start });
  if (input.seed !== false) await seedCatalog(server);
  await server.keymaster.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = server.keymaster.app.server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

/** How the proxy treats the next requests. */
export type Fault =
  | { kind: 'pass' }
  /** Answer this status without asking the server. */
  | { kind: 'status'; status: number }
  /** Cut the connection without an answer. */
  | { kind: 'drop' }
  /** Forward, but only after a delay. */
  | { kind: 'delay'; ms: number };

/**
 * A tiny HTTP proxy in front of a real server that injects faults: `faults` is consumed one per
 * request (then `fallback`), and every request is logged with its path and body.
 */
export async function startFaultProxy(target: string): Promise<{
  url: string;
  faults: Fault[];
  fallback: Fault;
  /** Path prefixes the proxy answers 404 for, as a server without those routes would. */
  missing: string[];
  /** Cuts every open `GET /v1/stream` answer mid-way (the upstream request is dropped too). */
  cutStreams(): number;
  /** Writes raw text into every open stream answer, between the server's own events. */
  injectIntoStreams(text: string): number;
  log: { method: string; path: string; headers: IncomingMessage['headers']; body: string; fault: Fault['kind'] }[];
  /** Cuts every forwarded exchange still open (a stream, say) without an end, as a dead link would. */
  cut(): void;
  close(): Promise<void>;
}> {
  const targetUrl = new URL(target);
  const state = {
    faults: [] as Fault[],
    fallback: { kind: 'pass' } as Fault,
    missing: [] as string[],
    log: [] as {
      method: string;
      path: string;
      headers: IncomingMessage['headers'];
      body: string;
      fault: Fault['kind'];
    }[],
  };
  const open = new Set<ServerResponse>();
  const streams = (): ServerResponse[] => [...open].filter((res) => res.req.url?.startsWith('/v1/stream'));
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const absent = state.missing.some((prefix) => (req.url ?? '').startsWith(prefix));
      const fault: Fault = absent ? { kind: 'status', status: 404 } : (state.faults.shift() ?? state.fallback);
      state.log.push({
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: body.toString(),
        fault: fault.kind,
      });
      if (fault.kind === 'status') {
        res.writeHead(fault.status, { 'content-type': 'application/problem+json' });
        res.end(
          JSON.stringify({
            type: 'about:blank',
            title: 'fault',
            status: fault.status,
            detail: 'injected',
            code: 'injected',
            request_id: 'proxy',
          }),
        );
        return;
      }
      if (fault.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      const forward = () => {
        open.add(res);
        const upstream = request(
          { host: targetUrl.hostname, port: targetUrl.port, method: req.method, path: req.url, headers: req.headers },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => res.destroy());
        res.on('close', () => {
          open.delete(res);
          upstream.destroy();
        });
        upstream.end(body);
      };
      if (fault.kind === 'delay') setTimeout(forward, fault.ms);
      else forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get faults() {
      return state.faults;
    },
    set faults(value: Fault[]) {
      state.faults = value;
    },
    get fallback() {
      return state.fallback;
    },
    set fallback(value: Fault) {
      state.fallback = value;
    },
    get missing() {
      return state.missing;
    },
    log: state.log,
    cutStreams() {
      const cut = streams();
      for (const res of cut) res.destroy();
      return cut.length;
    },
    injectIntoStreams(text) {
      const targets = streams();
      for (const res of targets) res.write(text);
      return targets.length;
    },
    cut() {
      for (const res of open) res.destroy();
    },
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Waits until `condition` holds (polling every 10 ms), or fails after `timeoutMs`. */
export async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
