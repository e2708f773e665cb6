import { randomBytes } from 'node:crypto';
import { type ChildServer, startServer } from './child-server.js';
import { customerId, type KeymasterApi, keymasterApi, seedCatalog, seedCustomers } from './keymaster-api.js';

export type BenchDatabase = 'sqlite' | 'postgres';

/** Where a benchmark's Keymaster keeps its data: SQLite, or a fresh schema in this PostgreSQL. */
export type DatabaseChoice = { database: 'sqlite' } | { database: 'postgres'; url: string };

/**
 * A Keymaster server in a child process with the benchmark catalog and `customers` customers on
 * `pro` (with `grant` each, when given), seeded through the API.
 */
export async function startSeededKeymaster(input: {
  target: DatabaseChoice;
  customers: number;
  grant?: Record<string, unknown>;
  /** More environment for the server (e.g. KEYMASTER_WEBHOOK_ALLOW_PRIVATE). */
  env?: Record<string, string>;
  serverExecArgv: readonly string[];
  log: (line: string) => void;
}): Promise<{ server: ChildServer; api: KeymasterApi; ids: string[] }> {
  const adminKey = `km_sk_bench_${randomBytes(12).toString('hex')}`;
  const server = await startServer({
    script: 'keymaster-server',
    env: {
      ...input.env,
      KEYMASTER_ADMIN_KEY: adminKey,
      LOG_LEVEL: 'warn',
      BENCH_SERVER_DATABASE_URL: input.target.database === 'postgres' ? input.target.url : '',
    },
    execArgv: input.serverExecArgv,
  });
  try {
    const api = keymasterApi({ url: server.url, adminKey });
    const ids = Array.from({ length: input.customers }, (_, i) => customerId(i));
    input.log(`${input.target.database}: seeding ${ids.length} customers through the API`);
    await seedCatalog(api);
    await seedCustomers({ api, ids, plan: 'pro', concurrency: 8, ...(input.grant ? { grant: input.grant } : {}) });
    return { server, api, ids };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** The databases to measure: SQLite always, PostgreSQL when a URL was given. */
export function databaseChoices(postgresUrl: string | undefined): DatabaseChoice[] {
  return postgresUrl ? [{ database: 'sqlite' }, { database: 'postgres', url: postgresUrl }] : [{ database: 'sqlite' }];
}
