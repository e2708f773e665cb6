import type { ServerResponse } from 'node:http';
import type { Clock } from '../../clock.js';
import type { Principal } from '../api-keys/service.js';
import type { ChangeObserver, FeedChange } from '../changes/change-feed.js';
import { type CustomerPayload, type NotificationPayload, StreamConnection } from './connection.js';
import type { StreamAuthorization } from './stream-authorization.js';

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
 *
 * Streams live no longer than their credential (see StreamConnection): each is re-checked before
 * every event it is sent, on every heartbeat (which catches a simulated clock that jumped), when
 * a customer token expires by the clock, and when this node reloads its API keys (`reauthorize`).
 * Each credential — a secret key, or one customer token — holds a bounded number of streams on
 * this node.
 */
export class StreamHub implements ChangeObserver {
  private readonly connections = new Map<StreamConnection, { owner: string; expiry: NodeJS.Timeout | undefined }>();
  /** Open streams by credential (`Principal.keyId`). */
  private readonly owned = new Map<string, number>();
  private readonly payloads = new Map<string, Promise<{ customer: string; entitlements: unknown }>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      /** The customer's entitlements snapshot as the API shows it; null when they do not exist. */
      snapshot: (customer: string) => Promise<unknown | null>;
      /** The customer's newest unread notifications, as `GET /v1/customers/{id}/notifications?unread=true` lists them. */
      unreadNotifications: (customer: string) => Promise<unknown[]>;
      heartbeatMs: number;
      maxQueued?: number;
      /** Open streams one secret key may hold on this node. */
      maxPerKey: number;
      /** Open streams one customer token may hold on this node. */
      maxPerToken: number;
      clock: Clock;
      logger: Logger;
    },
  ) {}

  /** Open streams on this node (what a leak would grow). */
  get size(): number {
    return this.connections.size;
  }

  /**
   * A new stream, holding changes until `start` (see StreamConnection); or, when the credential
   * already holds as many as it may, the limit it reached.
   */
  open(input: {
    res: ServerResponse;
    customer: string | undefined;
    principal: Principal;
    authorize: StreamAuthorization;
  }): { opened: StreamConnection } | { full: { limit: number } } {
    const { principal } = input;
    const owner = principal.keyId;
    const limit = principal.customer === undefined ? this.deps.maxPerKey : this.deps.maxPerToken;
    const count = this.owned.get(owner) ?? 0;
    if (count >= limit) return { full: { limit } };
    this.owned.set(owner, count + 1);
    const connection = new StreamConnection({
      res: input.res,
      customer: input.customer,
      payload: this.payload,
      notifications: this.notifications,
      maxQueued: this.deps.maxQueued ?? 10_000,
      authorize: input.authorize,
      onClose: (closed) => this.forget(closed),
    });
    this.connections.set(connection, { owner, expiry: undefined });
    if (principal.expiresAt !== undefined) this.recheckAt(connection, principal.expiresAt);
    if (!this.timer) {
      this.timer = setInterval(() => {
        for (const open of this.connections.keys()) {
          open.heartbeat();
          this.recheck(open);
        }
      }, this.deps.heartbeatMs);
      this.timer.unref();
    }
    return { opened: connection };
  }

  /** Re-checks every stream's credential: after this node reloaded its API keys (one was revoked). */
  reauthorize(): void {
    for (const connection of this.connections.keys()) this.recheck(connection);
  }

  changed(change: FeedChange): void {
    if (change.scope === 'catalog') this.payloads.clear();
    else if (change.customerId !== null) this.payloads.delete(change.customerId);
    for (const connection of this.connections.keys()) connection.offer(change);
  }

  reset(position: number): void {
    this.payloads.clear();
    for (const connection of this.connections.keys()) connection.reset(position);
  }

  /** Ends every stream (before the server closes: open streams would keep it waiting forever). */
  closeAll(): void {
    for (const connection of [...this.connections.keys()]) connection.close();
  }

  private recheck(connection: StreamConnection): void {
    connection.recheck().catch((error: unknown) => {
      // The credential could not be checked (the database is unreachable): the next check decides.
      this.deps.logger.warn({ err: error }, 'stream credential check failed');
    });
  }

  /**
   * Re-checks the stream when its token expires by the clock. The timer runs in real time: a
   * clock that stands still or jumps (tests, simulated time) is caught by the heartbeat instead.
   */
  private recheckAt(connection: StreamConnection, expiresAt: number): void {
    const held = this.connections.get(connection);
    if (!held) return;
    // setTimeout holds at most 2^31-1 ms (24.8 days): a later expiry is re-armed from there.
    const delay = Math.min(Math.max(expiresAt - this.deps.clock.now(), 0), 2 ** 31 - 1);
    held.expiry = setTimeout(() => {
      held.expiry = undefined;
      this.recheck(connection);
      if (this.deps.clock.now() < expiresAt) this.recheckAt(connection, expiresAt);
    }, delay);
    held.expiry.unref();
  }

  private forget(connection: StreamConnection): void {
    const held = this.connections.get(connection);
    if (!held) return;
    this.connections.delete(connection);
    clearTimeout(held.expiry);
    const left = (this.owned.get(held.owner) ?? 1) - 1;
    if (left > 0) this.owned.set(held.owner, left);
    else this.owned.delete(held.owner);
    if (this.connections.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private readonly notifications: NotificationPayload = (customer) =>
    this.deps.unreadNotifications(customer).then(
      (notifications) => ({ customer, notifications }),
      (error: unknown) => {
        // The client is told something arrived and can list them itself.
        this.deps.logger.warn({ err: error, customer }, 'stream notifications read failed');
        return { customer, notifications: [] };
      },
    );

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
