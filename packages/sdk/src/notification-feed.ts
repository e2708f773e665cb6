import type { Notification } from '@keymaster/contract';
import { KeymasterError } from './errors.js';
import { type HttpSettings, requestJson, unrefTimer } from './http.js';
import { Listeners } from './listeners.js';
import type { SseEvent } from './sse-parser.js';
import { StreamSubscription } from './stream-subscription.js';

/** A page of `GET /v1/customers/{id}/notifications`, newest first. */
export interface NotificationPage {
  data: Notification[];
  has_more: boolean;
  /** Pass as `cursor` for the next page. */
  next_cursor: string | null;
}

/** A customer's unread notifications as the SDK last heard of them (see `Keymaster.onNotifications`). */
export interface UnreadNotifications {
  customer: string;
  /** Newest first: the newest 20 at most, as the stream pushes them. */
  notifications: readonly Notification[];
  /** More are unread than `notifications` holds (show "20+"). */
  more: boolean;
  /** False until the first list arrived (or failed: see `error`). */
  loaded: boolean;
  /** Why the last fetch failed (what was shown before stays); null after one succeeds. */
  error: KeymasterError | null;
}

/** The stream's `notification` payload holds this many at most (the server's cap). */
const shown = 20;
/** Marks sent at once by `markAllRead`. */
const markConcurrency = 4;

/** One customer followed by at least one listener. */
interface Followed {
  state: UnreadNotifications;
  listeners: Listeners<UnreadNotifications>;
  /** With a secret key: this customer's own stream. With a token: null, the client's stream carries them. */
  stream: StreamSubscription | null;
  /** Whether that stream is up (with a token: the client's). While it is not, the list is polled. */
  live: boolean;
  /** Bumped by each push or mark applied: a fetch that started before one must not undo it. */
  version: number;
  /** A fetch of the list is out; `fetchAgain`: another was asked for meanwhile, and goes when it is back. */
  fetching: boolean;
  fetchAgain: boolean;
}

/**
 * Customers' in-app notifications: the list and mark-read calls, and the unread list kept live
 * for customers someone follows.
 *
 * Notifications come only on a stream of one customer (`?customer=`). With a customer token the
 * client's stream is already one: its `notification` events are handed here (`onClientStream*`),
 * and no second stream is opened. With a secret key the client's stream covers every customer and
 * carries none, so each followed customer gets one stream of its own, shared by their listeners
 * and closed with the last. While a stream is down the list is polled instead.
 */
export class NotificationFeed {
  private readonly followed = new Map<string, Followed>();
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private clientLive = false;
  private closed = false;

  constructor(
    private readonly deps: {
      http: HttpSettings;
      /** Aborts requests when the client closes. */
      signal: AbortSignal;
      tokenMode: boolean;
      /** Whether to use streams at all (the client's `stream` option); false polls only. */
      stream: boolean;
      pollIntervalMs: number;
      /** With a token: starts the client's stream (naming `customer`) if it is not running. */
      startClientStream: (customer: string) => void;
    },
  ) {}

  /** See `Keymaster.listNotifications`. */
  list(input: { customer: string; unread?: boolean; limit?: number; cursor?: string }): Promise<NotificationPage> {
    const query = new URLSearchParams();
    if (input.unread !== undefined) query.set('unread', String(input.unread));
    if (input.limit !== undefined) query.set('limit', String(input.limit));
    if (input.cursor !== undefined) query.set('cursor', input.cursor);
    const search = query.toString() === '' ? '' : `?${query}`;
    return requestJson<NotificationPage>(this.deps.http, {
      method: 'GET',
      path: `${this.base(input.customer)}${search}`,
      signal: this.deps.signal,
    });
  }

  /** See `Keymaster.markNotificationRead`. */
  async markRead(input: { customer: string; id: string }): Promise<Notification> {
    const notification = await this.postRead(input);
    this.forgetRead(input.customer, new Set([input.id]));
    return notification;
  }

  /** See `Keymaster.markAllNotificationsRead`. */
  async markAllRead(input: { customer: string }): Promise<number> {
    const marked = new Set<string>();
    let cursor: string | undefined;
    try {
      // Paging by cursor (ids below the last one seen) is not upset by marking what was listed.
      for (;;) {
        const page = await this.list({ customer: input.customer, unread: true, limit: 100, cursor });
        for (let i = 0; i < page.data.length; i += markConcurrency) {
          const batch = page.data.slice(i, i + markConcurrency);
          await Promise.all(batch.map((n) => this.postRead({ customer: input.customer, id: n.id })));
          for (const n of batch) marked.add(n.id);
        }
        if (!page.has_more || page.next_cursor === null) break;
        cursor = page.next_cursor;
      }
    } finally {
      this.forgetRead(input.customer, marked);
    }
    return marked.size;
  }

  /** See `Keymaster.onNotifications`. */
  follow(customer: string, listener: (unread: UnreadNotifications) => void): () => void {
    if (this.closed) return () => undefined;
    let followed = this.followed.get(customer);
    if (!followed) {
      followed = {
        state: { customer, notifications: [], more: false, loaded: false, error: null },
        listeners: new Listeners(),
        stream: null,
        live: this.deps.tokenMode && this.clientLive,
        version: 0,
        fetching: false,
        fetchAgain: false,
      };
      this.followed.set(customer, followed);
      this.startFollowing(customer, followed);
    }
    const entry = followed;
    const remove = entry.listeners.add(listener);
    return () => {
      remove();
      if (entry.listeners.size > 0 || this.followed.get(customer) !== entry) return;
      this.followed.delete(customer);
      void entry.stream?.close();
      if (this.followed.size === 0) this.stopPolling();
    };
  }

  /** The followed customer's unread notifications now (the same object until they change), or undefined. */
  current(customer: string): UnreadNotifications | undefined {
    return this.followed.get(customer)?.state;
  }

  /** With a token: the client's stream came up; without a resume point, what it missed is fetched. */
  onClientStreamLive(resumed: boolean): void {
    if (!this.deps.tokenMode) return;
    this.clientLive = true;
    for (const [customer, followed] of this.followed) {
      followed.live = true;
      if (!resumed) this.refresh(customer);
    }
  }

  onClientStreamDown(): void {
    if (!this.deps.tokenMode) return;
    this.clientLive = false;
    for (const followed of this.followed.values()) followed.live = false;
  }

  /** With a token: an event of the client's stream. */
  onClientStreamEvent(event: SseEvent): void {
    if (this.deps.tokenMode) this.applyEvent(event);
  }

  /** Stops every stream and timer; listeners are dropped. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopPolling();
    const streams = [...this.followed.values()].map((f) => f.stream?.close());
    this.followed.clear();
    await Promise.all(streams);
  }

  private base(customer: string): string {
    return `/v1/customers/${encodeURIComponent(customer)}/notifications`;
  }

  private postRead(input: { customer: string; id: string }): Promise<Notification> {
    return requestJson<Notification>(this.deps.http, {
      method: 'POST',
      path: `${this.base(input.customer)}/${encodeURIComponent(input.id)}/read`,
      body: {},
      signal: this.deps.signal,
    });
  }

  private startFollowing(customer: string, followed: Followed): void {
    this.startPolling();
    this.refresh(customer);
    if (!this.deps.stream) return;
    if (this.deps.tokenMode) {
      this.deps.startClientStream(customer);
      return;
    }
    followed.stream = new StreamSubscription(
      {
        http: this.deps.http,
        customer,
        reconnectBaseMs: 500,
        reconnectMaxMs: 30_000,
        unsupportedRetryMs: 5 * 60_000,
      },
      {
        onLive: ({ resumed }) => {
          followed.live = true;
          // Without a resume point (the first connection too) a notification made before the
          // stream was ready may be missing from what was fetched.
          if (!resumed) this.refresh(customer);
        },
        onDown: () => {
          followed.live = false;
        },
        onEvent: (event) => this.applyEvent(event),
      },
    );
    followed.stream.start();
  }

  private applyEvent(event: SseEvent): void {
    if (event.event === 'reset') {
      for (const customer of this.followed.keys()) this.refresh(customer);
      return;
    }
    if (event.event !== 'notification') return;
    let payload: { customer?: unknown; notifications?: unknown };
    try {
      payload = JSON.parse(event.data) as typeof payload;
    } catch {
      payload = {};
    }
    if (typeof payload.customer !== 'string') {
      for (const customer of this.followed.keys()) this.refresh(customer);
      return;
    }
    const followed = this.followed.get(payload.customer);
    if (!followed) return;
    const list = payload.notifications;
    // An empty list may stand for a read that failed on the server, and a full one may hide more:
    // the list route tells both.
    if (!Array.isArray(list) || list.length === 0 || list.length >= shown) {
      this.refresh(payload.customer);
      return;
    }
    this.set(followed, { notifications: list as Notification[], more: false, loaded: true, error: null });
  }

  /**
   * Fetches the newest unread page. One at a time per customer: a burst of pushes (marking many
   * read) costs two fetches, not one each. A push or mark applied meanwhile wins over its answer.
   */
  private refresh(customer: string): void {
    const followed = this.followed.get(customer);
    if (!followed || this.closed) return;
    if (followed.fetching) {
      followed.fetchAgain = true;
      return;
    }
    followed.fetching = true;
    const version = followed.version;
    const current = () => !this.closed && this.followed.get(customer) === followed && followed.version === version;
    this.list({ customer, unread: true, limit: shown })
      .then(
        (page) => {
          if (current())
            this.set(followed, { notifications: page.data, more: page.has_more, loaded: true, error: null }, false);
        },
        (error: unknown) => {
          if (!current()) return;
          const failure =
            error instanceof KeymasterError
              ? error
              : new KeymasterError({ message: String(error), status: 0, code: 'network_error', cause: error });
          this.set(followed, { ...followed.state, loaded: true, error: failure }, false);
        },
      )
      .finally(() => {
        followed.fetching = false;
        if (!followed.fetchAgain) return;
        followed.fetchAgain = false;
        this.refresh(customer);
      });
  }

  /** Drops notifications just marked read from the followed list, if the customer is followed. */
  private forgetRead(customer: string, ids: ReadonlySet<string>): void {
    const followed = this.followed.get(customer);
    if (!followed) return;
    const left = followed.state.notifications.filter((n) => !ids.has(n.id));
    if (left.length === followed.state.notifications.length) return;
    this.set(followed, { ...followed.state, notifications: left });
    // One that did not fit in the list may show now.
    if (followed.state.more) this.refresh(customer);
  }

  /** `bump`: a push or a mark, which fetches started before it must not overwrite. */
  private set(followed: Followed, next: Omit<UnreadNotifications, 'customer'>, bump = true): void {
    if (bump) followed.version++;
    followed.state = { customer: followed.state.customer, ...next };
    followed.listeners.emit(followed.state);
  }

  private startPolling(): void {
    if (this.pollTimer !== null) return;
    this.pollTimer = setInterval(() => {
      for (const [customer, followed] of this.followed) if (!followed.live) this.refresh(customer);
    }, this.deps.pollIntervalMs);
    unrefTimer(this.pollTimer);
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}
