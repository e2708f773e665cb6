import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const root = fileURLToPath(new URL('.', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/**
 * What the tests run as built JavaScript rather than through vitest's own transform of the
 * sources: the server's command line (started as a process) and its SQLite ingestion threads,
 * the SDK (imported by a child process) and the benchmark servers. `tsc -b` builds the packages
 * they reference too.
 */
const builtForTests = ['packages/server', 'packages/sdk', 'bench'];

/**
 * Brings that build up to date before any test runs, and again before each rerun in watch mode,
 * so that a test always exercises the sources as they are — also `npx vitest run <file>` right
 * after an edit. Incremental: with nothing changed it takes a fraction of a second.
 */
async function build(): Promise<void> {
  try {
    await promisify(execFile)(process.execPath, [tsc, '-b', ...builtForTests], { cwd: root });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`the build the tests run failed (tsc -b ${builtForTests.join(' ')}):\n${stdout}${stderr}`);
  }
}

export default async function setup(project: TestProject): Promise<void> {
  await build();
  project.onTestsRerun(build);
}
