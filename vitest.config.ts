import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src/index.ts`, import.meta.url));

const include = ['packages/*/src/**/*.test.ts', 'packages/web/test/**/*.test.ts', 'bench/src/**/*.test.ts'];
/**
 * Files that measure time or CPU share, or race many processes against a deadline: they run on
 * their own, after the rest, so the other files' load does not decide their outcome.
 */
const alone = [
  'bench/src/bench.test.ts',
  'packages/server/src/db/timeouts.test.ts',
  'packages/server/src/modules/subscriptions/scheduler-processes.test.ts',
];
/**
 * Files that need a process no other file ran in: they search its heap for the secrets they sent,
 * and a file before them in the same process would have left its own behind.
 */
const ownProcess = ['packages/server/src/http/credential-retention.test.ts'];
/** Runs after every other file: searches the logs of the whole run's test servers (see run-log.ts). */
const last = ['packages/server/src/run-logs.test.ts'];
/**
 * Most files spend their time waiting on databases and child processes, not computing: at least
 * three at once even on two cores (vitest's default is one fewer than the cores).
 */
const workers = Math.max(3, availableParallelism() - 1);

export default defineConfig({
  resolve: {
    // Tests run against the sources of sibling packages, so `npm test` needs no build first.
    alias: {
      '@keymaster/contract': src('contract'),
      '@keymaster/core': src('core'),
      '@keymaster/sdk': src('sdk'),
    },
  },
  test: {
    // Builds what the tests run as JavaScript (processes, threads) from the sources first.
    // And gives the run a directory every test server writes its log lines to (run-log.ts).
    globalSetup: ['./vitest.global-setup.ts', './packages/server/src/test-support/run-log.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'together',
          include,
          exclude: [...alone, ...last, ...ownProcess],
          maxWorkers: workers,
          // Each worker imports the server once for all the files it runs, rather than once per
          // file: that import was a large share of the whole run. Files share nothing else: each
          // starts its own servers on its own databases.
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        // Beside the others (a group shares its workers), but in a process of its own.
        test: { name: 'own process', include: ownProcess, maxWorkers: workers, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'alone', include: alone, maxWorkers: 1, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: { name: 'last', include: last, maxWorkers: 1, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
