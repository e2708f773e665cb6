import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const root = fileURLToPath(new URL('.', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const run = promisify(execFile);

/**
 * What the tests run as built JavaScript rather than through vitest's own transform of the
 * sources: the server's command line (started as a process) and its SQLite ingestion threads,
 * the SDK (imported by a child process) and the benchmark servers. `tsc -b` builds the packages
 * they reference too.
 */
const builtForTests = ['packages/server', 'packages/sdk', 'bench'];

/** The console and portal the browser tests open, as the server serves them: Vite's build. */
const web = join(root, 'packages/web');

/** The newest modification time under `path` (ms), 0 when it does not exist. */
function newest(path: string): number {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

async function buildWeb(): Promise<void> {
  const sources = Math.max(
    newest(join(web, 'src')),
    newest(join(web, 'index.html')),
    newest(join(web, 'portal.html')),
    newest(join(web, 'vite.config.ts')),
    newest(join(root, 'packages/react/src')),
  );
  if (newest(join(web, 'dist/.vite/manifest.json')) >= sources) return;
  // vite's package exports do not include its bin: found next to its package.json.
  const vite = join(dirname(createRequire(join(web, 'package.json')).resolve('vite/package.json')), 'bin/vite.js');
  await run(process.execPath, [vite, 'build'], { cwd: web });
}

/**
 * Brings that build up to date before any test runs, and again before each rerun in watch mode,
 * so that a test always exercises the sources as they are — also `npx vitest run <file>` right
 * after an edit. Incremental: with nothing changed it takes a fraction of a second.
 */
async function build(): Promise<void> {
  try {
    await run(process.execPath, [tsc, '-b', ...builtForTests], { cwd: root });
    await buildWeb();
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `the build the tests run failed (tsc -b ${builtForTests.join(' ')}; vite build):\n${stdout}${stderr}`,
    );
  }
}

export default async function setup(project: TestProject): Promise<void> {
  await build();
  project.onTestsRerun(build);
}
