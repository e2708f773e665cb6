import type { ServerResponse } from 'node:http';
import type { ChangeObserver, FeedChange } from '../changes/change-feed.js';
import { type CustomerPayload, StreamConnection } from './connection.js';

interface Logger {
  warn(obj: object, msg: string): void;
}

/**
 * This node's open streams, fed by its change feed. Every node follows the feed, so a change
 * written through any node reaches every node's streams within a poll interval; the node that
 * wrote it reads the feed before answering the write, so its own streams hear at once.
 *
 * Customer payloads are shared: streams waiting for the same customer's snapshot share one
 * computation, and a change to that customer drops the shared one so nobody is handed a
 * snapshot older than the change it announces.
 */
export class StreamHub implements ChangeObserver {
  private readonly connections = new Set<StreamConnection>();
  private readonly payloads = new Map<string, Promise<{ customer: string; entitlements: unknown }>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      /** The customer's entitlements snapshot as the API shows it; null when they do not exist. */
      snapshot: (customer: string) => Promise<unknown | null>;
      heartbeatMs: number;
      maxQueued?: number;
      logger: Logger;
    },
  ) {}

  /** Open streams on this node (what a leak would grow). */
  get size(): number {
    return this.connections.size;
  }

  /** A new stream, holding changes until `start` (see StreamConnection). */
  open(input: { res: ServerResponse; customer: string | undefined }): StreamConnection {
    const connection = new StreamConnection({
      res: input.res,
      customer: input.customer,
      payload: this.payload,
      maxQueued: this.deps.maxQueued ?? 10_000,
      onClose: (closed) => this.forget(closed),
    });
    this.connections.add(connection);
    if (!this.timer) {
      this.timer = setInterval(() => {
        for (const open of this.connections) open.heartbeat();
      }, this.deps.heartbeatMs);
      this.timer.unref();
    }
    return connection;
  }

  changed(change: FeedChange): void {
    if (change.scope === 'catalog') this.payloads.clear();
    else if (change.customerId !== null) this.payloads.delete(change.customerId);
    for (const connection of this.connections) connection.offer(change);
  }

  reset(position: number): void {
    this.payloads.clear();
    for (const connection of this.connections) connection.reset(position);
  }

  /** Ends every stream (before the server closes: open streams would keep it waiting forever). */
  closeAll(): void {
    for (const connection of [...this.connections]) connection.close();
  }

  private forget(connection: StreamConnection): void {
    this.connections.delete(connection);
    if (this.connections.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private readonly payload: CustomerPayload = (customer) => {
    let shared = this.payloads.get(customer);
    if (!shared) {
      shared = this.deps.snapshot(customer).then(
        (entitlements) => ({ customer, entitlements }),
        (error: unknown) => {
          // The client is told to refetch rather than left with nothing.
          this.deps.logger.warn({ err: error, customer }, 'stream snapshot failed');
          return { customer, entitlements: null };
        },
      );
      const settled = shared;
      this.payloads.set(customer, settled);
      void settled.then(() => {
        if (this.payloads.get(customer) === settled) this.payloads.delete(customer);
      });
    }
    return shared;
  };
}
