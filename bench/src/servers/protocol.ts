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

/** A Keymaster server's `alert-activity` answer: rows in its alert and webhook tables. */
export interface AlertActivity {
  /** `alert_firings` rows: one per rule, customer and period fired (and per limit reached). */
  firings: number;
  /** `webhook_deliveries` rows, one per event and endpoint, and those answered 2xx or still queued. */
  deliveries: number;
  succeeded: number;
  pending: number;
  /** Outbox events the slowest outbox consumer (webhook fan-out, notifications, …) has yet to take. */
  outboxBehind: number;
}
