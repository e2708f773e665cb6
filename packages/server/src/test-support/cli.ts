import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DatabaseTarget } from '../db/database.js';
import { databaseEnv } from './processes.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** The real command line, from the build, on a test database: its exit code and output. */
export function runKeymaster(
  target: DatabaseTarget,
  args: string[],
  input: {
    stdin?: string;
    /** More environment; a variable given as undefined is left out. */
    env?: Record<string, string | undefined>;
  } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [cli, ...args],
      { env: { ...process.env, ...databaseEnv(target), LOG_LEVEL: 'warn', ...input.env } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(input.stdin ?? '');
  });
}
