import { type ChildProcess, fork } from 'node:child_process';
import type { ChildMessage, CpuUsage } from './servers/protocol.js';

/** A server under test running in a child process, and the parent's handle on it. */
export interface ChildServer {
  readonly url: string;
  readonly pid: number;
  command<T>(name: string, args?: unknown): Promise<T>;
  /** CPU time (user + system) the child has used so far, in microseconds. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

export type ServerScript = 'keymaster-server' | 'bare-server';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Forks `dist/servers/<script>.js` and waits until it listens. Each server gets its own process
 * so that, on a 2-core machine, it has a core to itself while the load generator uses the other.
 */
export function startServer(input: {
  script: ServerScript;
  env?: Record<string, string>;
  /** Node options for the child, e.g. `--cpu-prof` to profile the server under load. */
  execArgv?: readonly string[];
  /** A program the child's node runs under, with its arguments: e.g. valgrind (see check-instructions.ts). */
  wrapper?: { command: string; args: readonly string[] };
}): Promise<ChildServer> {
  const nodeArgs = [...process.execArgv, ...(input.execArgv ?? [])];
  const child = fork(new URL(`./servers/${input.script}.js`, import.meta.url), [], {
    ...(input.wrapper
      ? { execPath: input.wrapper.command, execArgv: [...input.wrapper.args, process.execPath, ...nodeArgs] }
      : { execArgv: nodeArgs }),
    env: { ...process.env, ...input.env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      for (const { reject } of pending.values()) reject(new Error(`${input.script} exited (${code ?? signal})`));
      pending.clear();
      resolve();
    }),
  );

  return new Promise((resolve, reject) => {
    // Under valgrind a server starts some twenty times slower.
    const startMs = input.wrapper ? 600_000 : 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${input.script} did not start within ${startMs / 1000} s`));
    }, startMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${input.script} exited before it was ready (${code ?? signal})`));
    });
    child.on('message', (raw) => {
      const message = raw as ChildMessage;
      if (message.type === 'ready') {
        clearTimeout(timer);
        resolve(handle(message.port));
        return;
      }
      const waiting = pending.get(message.id);
      pending.delete(message.id);
      if (message.type === 'reply') waiting?.resolve(message.result);
      else waiting?.reject(new Error(`${input.script}: ${message.error}`));
    });
  });

  function handle(port: number): ChildServer {
    const command = <T>(name: string, args?: unknown) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        child.send({ id, name, args: args ?? null });
      });
    return {
      url: `http://127.0.0.1:${port}`,
      pid: child.pid ?? -1,
      command,
      cpuMicros: async () => (await command<CpuUsage>('cpu')).cpuMicros,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const timer = setTimeout(() => child.kill('SIGKILL'), input.wrapper ? 120_000 : 15_000);
        await command('stop').catch(() => undefined);
        await exited;
        clearTimeout(timer);
      },
    };
  }
}
