import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { DatabaseTarget } from '../db/database.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** A Keymaster server in its own process, started through the real CLI from the built package. */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
  /**
   * One API call, with the process's admin key unless `key` is given: its status, headers and JSON
   * body (`{}` when the body is empty). A body is sent as JSON when given.
   */
  call(
    method: string,
    path: string,
    body?: unknown,
    options?: { key?: string; headers?: Record<string, string> },
  ): Promise<ApiAnswer>;
}

export interface ApiAnswer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The DATABASE_URL that points a process at a test database (a schema of its own on PostgreSQL). */
export function databaseUrl(target: DatabaseTarget): string {
  if (target.dialect === 'sqlite') return `sqlite:${target.file}`;
  return inSchema(target.url, target.schema);
}

/** The environment that points a process at a test database: its role's URL, and its owner's to migrate with. */
export function databaseEnv(target: DatabaseTarget): Record<string, string> {
  if (target.dialect === 'sqlite' || target.migrationUrl === undefined) return { DATABASE_URL: databaseUrl(target) };
  return {
    DATABASE_URL: databaseUrl(target),
    KEYMASTER_MIGRATION_DATABASE_URL: inSchema(target.migrationUrl, target.schema),
  };
}

function inSchema(connection: string, schema: string | undefined): string {
  const url = new URL(connection);
  if (schema) url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

export async function startServerProcess(input: {
  target: DatabaseTarget;
  adminKey: string;
  /** More environment, over the defaults below (a DATABASE_URL here replaces the target's). */
  env?: Record<string, string>;
}): Promise<ServerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [cli, 'serve'], {
    env: {
      ...process.env,
      ...databaseEnv(input.target),
      KEYMASTER_ADMIN_KEY: input.adminKey,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      KEYMASTER_FEED_POLL_MS: '100',
      ...input.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  // Generous: several processes start at once beside the rest of the suite on two cores.
  const deadline = Date.now() + 45_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output}`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not become ready:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url,
    child,
    output: () => output,
    async call(method, path, body, options = {}) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.key ?? input.adminKey}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.text();
      return {
        status: response.status,
        headers: response.headers,
        json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown>,
      };
    },
    stop: () =>
      new Promise((resolve) => {
        // Exited already: with a code, or killed by a signal (SIGKILL in crash tests).
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Through the first process: metered `calls` on the published plan `team` (`limit` a month), and
 * customer `acme` subscribed to it. Resolves once every process answers checks for it: the others
 * learn of the catalog and the customer at their next change-feed poll, so a race a test starts
 * after this is between its own requests only.
 */
export async function seedTeamCustomer(input: { servers: ServerProcess[]; adminKey: string; limit: number }) {
  const send = async (server: ServerProcess, method: string, path: string, body: unknown) => {
    const { status, json } = await server.call(method, path, body, { key: input.adminKey });
    if (status >= 300) throw new Error(`${method} ${path} answered ${status}: ${JSON.stringify(json)}`);
    return json;
  };
  const [first] = input.servers;
  await send(first!, 'POST', '/v1/features', { key: 'calls', name: 'Calls', type: 'metered' });
  const entitlements = [{ feature: 'calls', limit: input.limit, reset: 'month' }];
  await send(first!, 'POST', '/v1/plans', { key: 'team', name: 'Team', entitlements });
  await send(first!, 'POST', '/v1/plans/team/publish', {});
  await send(first!, 'PUT', '/v1/customers/acme', {});
  await send(first!, 'POST', '/v1/customers/acme/subscriptions', { plan: 'team' });
  for (const server of input.servers) {
    for (let attempt = 0; ; attempt++) {
      const json = await send(server, 'POST', '/v1/check', { customer: 'acme', feature: 'calls', quantity: 0 });
      if (json.allowed === true) break;
      if (attempt > 200) throw new Error(`a process never learned of the plan: ${JSON.stringify(json)}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
