/**
 * The few messages between the benchmark (parent) and a server under test (child process). The
 * child answers each command by id; `ready` is sent once, when it listens.
 */
export type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 'reply'; id: number; result: unknown }
  | { type: 'failed'; id: number; error: string };

export interface Command {
  id: number;
  name: string;
  args: unknown;
}

/** Every child answers these two; servers add their own. */
export interface CpuUsage {
  /** User plus system CPU time of the child since it started, in microseconds. */
  cpuMicros: number;
}
