import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of the shared test database, for one suite's server to connect through:
 * the suite can then take *its* database away — cut it, or make it go quiet — without touching
 * the PostgreSQL server other suites use.
 */
export interface TcpProxy {
  port: number;
  /** Resets every connection and refuses new ones, as a database that went down. */
  cut(): Promise<void>;
  /** Accepts connections again after `cut`. */
  restore(): Promise<void>;
  /** Keeps every connection open but carries nothing either way, as a network gone quiet. */
  stall(): void;
  /** Carries again what `stall` held, and everything after. */
  resume(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let stalled = false;
  const carry = ({ client, upstream }: Pair) => {
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const server = createServer((client) => {
    const pair = { client, upstream: connect(target) };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      pair.client.destroy();
      pair.upstream.destroy();
    };
    for (const socket of [pair.client, pair.upstream]) {
      socket.on('error', drop);
      socket.on('close', drop);
    }
    if (!stalled) carry(pair);
  });
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const port = await listen(0);
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const pair of [...pairs]) {
        pair.client.resetAndDestroy();
        pair.upstream.destroy();
      }
    });
  return {
    port,
    cut: stopListening,
    restore: async () => {
      await listen(port);
    },
    stall() {
      stalled = true;
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    resume() {
      stalled = false;
      for (const pair of pairs) carry(pair);
    },
    close: stopListening,
  };
}
