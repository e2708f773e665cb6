import type { ServerResponse } from 'node:http';
import type { FeedChange } from '../changes/change-feed.js';
import { sseEvent, sseHeartbeat } from './sse.js';
import type { StreamAuthorization, StreamEnd } from './stream-authorization.js';

/** An event waiting to be written; `id` is the feed position a client may resume after. */
interface Pending {
  event: 'catalog' | 'customer' | 'usage' | 'notification' | 'reset';
  customer: string | null;
  id: number;
}

/** The payload of `customer` and `usage` events: the customer's fresh snapshot, or null. */
export type CustomerPayload = (customer: string) => Promise<{ customer: string; entitlements: unknown }>;

/** The payload of `notification` events: the customer's newest unread notifications. */
export type NotificationPayload = (customer: string) => Promise<{ customer: string; notifications: unknown[] }>;

/**
 * One open `GET /v1/stream`. Changes are queued, coalesced and written in order:
 *
 * - Coalescing: a queued event for the same customer (or a queued catalog event) is replaced by
 *   the newer one, moved to the back of the queue. Every event means "this is now stale", and
 *   the customer's payload is read when the event is written, so the newer event carries
 *   everything the older one would have. Moving it back keeps ids increasing on the wire: an id
 *   promises everything up to it was delivered, and the replaced event is delivered later with
 *   a higher id.
 * - Notifications coalesce the same way, under a key of their own: the payload is read at write
 *   time too (the customer's newest unread notifications), so it holds what an older one would.
 * - The queue holds at most one event per customer (and one notification event); a client so slow that it exceeds
 *   `maxQueued` gets a `reset` instead (refetch everything), so memory stays bounded.
 * - Ids never go down on one connection (a resumed client sees its own id first).
 * - Nothing is written without the stream's credential being checked first, after the payload
 *   was read: a revoked key, an expired token or a token whose customer was erased ends the
 *   stream with a `revoked` event instead — and a customer re-created with the same id is never
 *   shown to a token issued for the erased one, even if their snapshot was read in between.
 */
export class StreamConnection {
  private readonly queue = new Map<string, Pending>();
  /** Changes that arrived while the replay of missed ones was read; null once live. */
  private held: FeedChange[] | null = [];
  private lastId = 0;
  private writing = false;
  private congested = false;
  private closed = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly deps: {
      res: ServerResponse;
      customer: string | undefined;
      payload: CustomerPayload;
      notifications: NotificationPayload;
      maxQueued: number;
      authorize: StreamAuthorization;
      onClose: (connection: StreamConnection) => void;
    },
  ) {
    deps.res.on('close', () => this.close());
    deps.res.on('drain', () => {
      this.congested = false;
      this.wake?.();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Whether this stream forwards a change (API key changes never; customers' only when they match). */
  wants(change: { scope: string; customerId: string | null }): boolean {
    if (change.scope === 'catalog') return true;
    // Notifications are for the customer's own streams: a stream of every customer (a backend
    // keeping its cache) has no one to show them to.
    if (change.scope === 'notification') return change.customerId === (this.deps.customer ?? null);
    if (change.scope !== 'customer' && change.scope !== 'usage') return false;
    return this.deps.customer === undefined || change.customerId === this.deps.customer;
  }

  /** A change read by the feed: held while the replay runs, queued once live. */
  offer(change: FeedChange): void {
    if (this.closed || !this.wants(change)) return;
    if (this.held) this.held.push(change);
    else this.enqueue({ scope: change.scope, customerId: change.customerId, id: change.position });
  }

  /** Queues a change (from the replay, or live). */
  enqueue(input: { scope: string; customerId: string | null; id: number }): void {
    const { scope, customerId, id } = input;
    if (scope === 'catalog') {
      this.put('catalog', { event: 'catalog', customer: null, id });
      return;
    }
    if (customerId === null) return;
    if (scope === 'notification') {
      // A replay of every customer's changes holds them too (see `wants`).
      if (customerId !== this.deps.customer) return;
      this.put(`n:${customerId}`, { event: 'notification', customer: customerId, id });
      return;
    }
    const key = `c:${customerId}`;
    const earlier = this.queue.get(key);
    // A customer event also refreshes balances; a usage event never means more than that.
    const event = scope === 'customer' || earlier?.event === 'customer' ? 'customer' : 'usage';
    this.put(key, { event, customer: customerId, id });
  }

  /** Drops whatever is queued: the client must refetch everything. */
  reset(id: number): void {
    this.queue.clear();
    this.put('reset', { event: 'reset', customer: null, id });
  }

  /**
   * Writes the `ready` event, then goes live: held changes not already replayed (or older than
   * the client's resume point) are queued, and writing starts.
   */
  start(input: { id: number; data: unknown; skip: (seq: number) => boolean }): void {
    if (this.closed) return;
    this.lastId = input.id;
    this.write(sseEvent({ event: 'ready', id: input.id, data: input.data }));
    const held = this.held ?? [];
    this.held = null;
    for (const change of held) {
      if (!input.skip(change.seq))
        this.enqueue({ scope: change.scope, customerId: change.customerId, id: change.position });
    }
    this.pump();
  }

  /** Checks the credential now, and ends the stream (saying why) when it no longer holds. */
  async recheck(): Promise<void> {
    if (this.closed) return;
    const end = await this.deps.authorize();
    if (end) this.end(end);
  }

  heartbeat(): void {
    // A congested connection has bytes in flight already; piling comments on it helps nobody.
    if (!this.closed && !this.congested && this.held === null) this.write(sseHeartbeat);
  }

  /**
   * Ends a live stream with a last `revoked` event (no id: the client's resume point stays
   * where it was). Before `start` nothing happens: the route has not answered yet, and the
   * first write checks the credential anyway.
   */
  end(reason: StreamEnd): void {
    if (this.closed || this.held !== null) return;
    this.write(sseEvent({ event: 'revoked', data: reason }));
    this.close();
  }

  close(): void {
    if (this.closed) return;
    // Before start nothing was written: the route answers (an error) itself.
    const live = this.held === null;
    this.closed = true;
    this.queue.clear();
    this.held = null;
    this.wake?.();
    if (live && !this.deps.res.writableEnded) this.deps.res.end();
    this.deps.onClose(this);
  }

  private put(key: string, pending: Pending): void {
    this.queue.delete(key);
    if (this.queue.size >= this.deps.maxQueued) {
      this.queue.clear();
      key = 'reset';
      pending = { event: 'reset', customer: null, id: pending.id };
    }
    this.queue.set(key, pending);
    this.pump();
  }

  private pump(): void {
    if (this.writing || this.closed || this.held !== null) return;
    this.writing = true;
    this.flush().then(
      () => {
        this.writing = false;
        if (this.queue.size > 0) this.pump();
      },
      () => this.close(),
    );
  }

  private async flush(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      if (this.congested) await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
      const next = this.queue.entries().next();
      if (next.done) return;
      const [key, pending] = next.value;
      this.queue.delete(key);
      const data =
        pending.customer === null
          ? {}
          : pending.event === 'notification'
            ? await this.deps.notifications(pending.customer)
            : await this.deps.payload(pending.customer);
      const end = await this.deps.authorize();
      if (this.closed) return;
      if (end) return this.end(end);
      this.lastId = Math.max(this.lastId, pending.id);
      this.write(sseEvent({ event: pending.event, id: this.lastId, data }));
    }
  }

  private write(chunk: string): void {
    if (!this.deps.res.write(chunk)) this.congested = true;
  }
}
