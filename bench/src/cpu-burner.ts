import { fork } from 'node:child_process';
import { once } from 'node:events';

/** A running cpu-burner child (see servers/cpu-burner.ts). */
export interface CpuBurner {
  /** CPU time the burner has used so far, in microseconds. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

// Run from the TypeScript sources (by the test runner), the child still runs the build's JavaScript
// — which the test run's global setup (vitest.global-setup.ts) first builds from those sources.
const script = import.meta.url.endsWith('.ts')
  ? new URL('../dist/servers/cpu-burner.js', import.meta.url)
  : new URL('./servers/cpu-burner.js', import.meta.url);

/** Starts a child process that keeps `percent` of one core busy with unrelated work. */
export async function startCpuBurner(percent: number): Promise<CpuBurner> {
  const child = fork(script, [], {
    env: { ...process.env, BURN_PERCENT: String(percent) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [first] = (await Promise.race([once(child, 'message'), once(child, 'exit')])) as unknown[];
  if (first !== 'ready') throw new Error('the CPU burner stopped before it started');
  return {
    async cpuMicros() {
      const answer = once(child, 'message');
      child.send('usage');
      const [message] = (await answer) as [{ micros: number }];
      return message.micros;
    },
    async stop() {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}
