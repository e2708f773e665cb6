import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { inject } from 'light-my-request';
import { manualClock } from '../clock.js';
import { loadConfig } from '../config.js';
import type { DatabaseTarget } from '../db/database.js';
import type { Concern } from '../http/concerns.js';
import { createKeymaster, type Keymaster } from '../runtime.js';
import { createTestDatabase, type TestDialect } from './databases.js';
import { runLogWriter } from './run-log.js';

export const testAdminKey = 'km_sk_test_admin_key_0123456789';

export type TestResponse = LightMyRequestResponse & { json<T = Record<string, unknown>>(): T };

export interface TestServer {
  keymaster: Keymaster;
  /** Where its data is: for another process on the same database (see `databaseUrl`). */
  target: DatabaseTarget;
  clock: ReturnType<typeof manualClock>;
  /**
   * An authenticated request. `body` is sent as JSON, or as is when it is a string (set
   * `content-type` yourself then). A header set to `undefined` is not sent at all. A 5xx answer
   * throws: Keymaster never answers 500 to anything a client can send.
   */
  request(input: {
    method: InjectOptions['method'];
    url: string;
    body?: unknown;
    headers?: Record<string, string | undefined>;
  }): Promise<TestResponse>;
  /** Listens on a free port of 127.0.0.1 (or `port`), for clients that need a real socket; answers the base URL. */
  listen(port?: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * Sends a request to an app the way a socket's request goes: through its request listener
 * (`app.dispatch`), not Fastify's `inject`, which would skip the plain dispatch of the hot routes.
 * Answers whatever the app answers, 5xx included.
 */
export async function dispatch(app: FastifyInstance, options: InjectOptions): Promise<TestResponse> {
  // The router serves only once every route is registered (Fastify's own `inject` waits too).
  await app.ready();
  return (await inject(app.dispatch, options)) as TestResponse;
}

export interface TestServerOptions {
  /** Where the manual clock starts. */
  start?: string;
  env?: Record<string, string>;
  /** Another clock than a manual one starting at `start` (one that follows real time, say). */
  clock?: TestServer['clock'];
  /**
   * Receives every log line (JSON), at the level `env.LOG_LEVEL` sets. Every server's lines also
   * go to the run's log (run-log.ts), which the run's last test searches for credentials.
   */
  logs?: (line: string) => void;
  /** More concerns for every API route (see `AppDeps.concerns`). */
  concerns?: readonly Concern[];
}

/**
 * A real Keymaster (real database, real HTTP stack, injected clock) for one test suite. Requests
 * go through the listener a real server's socket feeds (`app.dispatch`), not Fastify's `inject`,
 * which would skip the plain dispatch of the hot routes.
 */
export async function startTestServer(input: TestServerOptions & { dialect: TestDialect }): Promise<TestServer> {
  const database = await createTestDatabase(input.dialect);
  const server = await startTestServerOn({ ...input, target: database.target });
  return {
    ...server,
    async close() {
      await server.close();
      await database.drop();
    },
  };
}

/**
 * `startTestServer` on a database that outlives it: one node of several, or one started again
 * after another stopped (closing it leaves the database as it is).
 */
export async function startTestServerOn(input: TestServerOptions & { target: DatabaseTarget }): Promise<TestServer> {
  const clock = input.clock ?? manualClock(Date.parse(input.start ?? '2026-01-15T12:00:00.000Z'));
  const config = {
    ...loadConfig({ KEYMASTER_ADMIN_KEY: testAdminKey, KEYMASTER_FEED_POLL_MS: '50', ...input.env }),
    database: input.target,
  };
  // The run's log (run-log.ts) hears every server, beside whatever the test listens for itself.
  const run = runLogWriter();
  const own = input.logs;
  const logs =
    own && run
      ? (line: string) => {
          own(line);
          run(line);
        }
      : (own ?? run);
  const concerns = input.concerns ?? [];
  const keymaster = await createKeymaster(
    logs
      ? { config, clock, concerns, logDestination: { write: (line: string) => logs(line) } }
      : { config, clock, concerns, logger: false },
  );
  return {
    keymaster,
    target: input.target,
    clock,
    async request({ method, url, body, headers }) {
      const sent: Record<string, string> = {};
      for (const [name, value] of Object.entries({ authorization: `Bearer ${testAdminKey}`, ...headers })) {
        if (value !== undefined) sent[name] = value;
      }
      const response = await dispatch(keymaster.app, {
        method,
        url,
        headers: sent,
        ...(body !== undefined ? { payload: body as InjectOptions['payload'] } : {}),
      });
      if (response.statusCode >= 500) {
        throw new Error(`${method} ${url} answered ${response.statusCode}: ${response.body}`);
      }
      return response;
    },
    async listen(port = 0) {
      await keymaster.app.listen({ port, host: '127.0.0.1' });
      const address = keymaster.app.server.address();
      return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    },
    close: () => keymaster.close(),
  };
}
