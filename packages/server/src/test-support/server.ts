import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { manualClock } from '../clock.js';
import { loadConfig } from '../config.js';
import { createKeymaster, type Keymaster } from '../runtime.js';
import { createTestDatabase, type TestDialect } from './databases.js';

export const testAdminKey = 'km_sk_test_admin_key_0123456789';

export interface TestServer {
  keymaster: Keymaster;
  clock: ReturnType<typeof manualClock>;
  /** An authenticated request; `body` is sent as JSON. */
  request(input: {
    method: InjectOptions['method'];
    url: string;
    body?: unknown;
    headers?: Record<string, string>;
  }): Promise<LightMyRequestResponse & { json<T = Record<string, unknown>>(): T }>;
  close(): Promise<void>;
}

/** A real Keymaster (real database, real HTTP stack, injected clock) for one test suite. */
export async function startTestServer(input: {
  dialect: TestDialect;
  start?: string;
  env?: Record<string, string>;
}): Promise<TestServer> {
  const database = await createTestDatabase(input.dialect);
  const clock = manualClock(Date.parse(input.start ?? '2026-01-15T12:00:00.000Z'));
  const config = {
    ...loadConfig({ KEYMASTER_ADMIN_KEY: testAdminKey, KEYMASTER_FEED_POLL_MS: '50', ...input.env }),
    database: database.target,
  };
  const keymaster = await createKeymaster({ config, clock, logger: false });
  return {
    keymaster,
    clock,
    request: ({ method, url, body, headers }) =>
      keymaster.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${testAdminKey}`, ...headers },
        ...(body !== undefined ? { payload: body as InjectOptions['payload'] } : {}),
      }) as never,
    async close() {
      await keymaster.close();
      await database.drop();
    },
  };
}
