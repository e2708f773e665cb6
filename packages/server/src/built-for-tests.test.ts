import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

// Some tests run built JavaScript: the command line as a process, the SQLite ingestion threads,
// the SDK in a child process, the benchmark servers. Built from sources older than the ones on
// disk, they would test code that is not there; the test run's global setup
// (vitest.global-setup.ts) builds them first.
it('runs built code that is the build of the sources as they are', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [tsc, '-b', '--dry', 'packages/server', 'packages/sdk', 'bench'],
    { cwd: root },
  );
  expect(stdout).toContain('is up to date');
  expect(stdout).not.toMatch(/would build project '.*'/);
});
