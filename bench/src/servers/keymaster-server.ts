import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeymaster, loadConfig, systemClock } from '@keymaster/server';
import { type CloneCustomersArgs, cloneCustomers } from './clone-customers.js';
import { serveCommands } from './serve-commands.js';

/**
 * A Keymaster server under test, in its own process so that it does not share a core with the
 * load generator: SQLite in a fresh temporary directory, the real HTTP stack, the system clock.
 * The parent passes KEYMASTER_ADMIN_KEY and LOG_LEVEL in the environment.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'keymaster-bench-'));
const config = loadConfig({
  KEYMASTER_DATA_DIR: dataDir,
  KEYMASTER_ADMIN_KEY: process.env.KEYMASTER_ADMIN_KEY,
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  HOST: '127.0.0.1',
  PORT: '0',
});
const keymaster = await createKeymaster({ config, clock: systemClock });
const address = await keymaster.app.listen({ host: config.host, port: config.port });

await serveCommands({
  port: Number(new URL(address).port),
  async close() {
    await keymaster.close();
    rmSync(dataDir, { recursive: true, force: true });
  },
  handlers: {
    'clone-customers': (args: CloneCustomersArgs) => cloneCustomers({ db: keymaster.database.db, ...args }),
    'cached-customers': () => keymaster.services.cache.size,
  },
});
