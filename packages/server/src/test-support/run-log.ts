import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every in-process test server of a run writes its log lines to one directory, so that the
 * run's last test (run-logs.test.ts) can search them all for credentials: a leak any suite's
 * requests provoke is found, not only the ones a dedicated test thought of. The directory is
 * made by the run's global setup (below) and named to the workers in KEYMASTER_TEST_LOG_DIR;
 * without it (a file run on its own outside vitest's config) nothing is written.
 */
const variable = 'KEYMASTER_TEST_LOG_DIR';

/** Where this worker appends the log lines of its test servers, or undefined when the run keeps none. */
export function runLogWriter(): ((line: string) => void) | undefined {
  const dir = process.env[variable];
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}.log`);
  return (line) => appendFileSync(file, line.endsWith('\n') ? line : `${line}\n`);
}

/** Every line test servers logged in this run so far, or undefined when the run keeps none. */
export function runLogLines(): string[] | undefined {
  const dir = process.env[variable];
  if (!dir) return undefined;
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files.flatMap((file) =>
    readFileSync(join(dir, file), 'utf8')
      .split('\n')
      .filter((line) => line !== ''),
  );
}

/** vitest's global setup: makes the run's directory and names it to the workers; removes it after the run. */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'keymaster-test-logs-'));
  process.env[variable] = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
