import type { Notification, Reservation, UsageHistory } from '@keymaster/contract';
import type { Feature } from '@keymaster/core';
import { CacheSync, type SyncStatus } from './cache-sync.js';
import type { Decision } from './decision.js';
import { EventTracker, type UsageEvent } from './event-tracker.js';
import { FeatureDefinitions, type FlagAnswer } from './feature-definitions.js';
import type { HttpSettings } from './http.js';
import { Listeners } from './listeners.js';
import { LocalChecks } from './local-checks.js';
import { NotificationFeed, type NotificationPage, type UnreadNotifications } from './notification-feed.js';
import { type KeymasterOptions, resolveOptions } from './options.js';
import { RemoteCalls } from './remote-calls.js';
import { SnapshotStore } from './snapshot-store.js';

export type { SyncStatus } from './cache-sync.js';
export type { NotificationPage, UnreadNotifications } from './notification-feed.js';

/**
 * A Keymaster client with a local cache. Create one per process (or page) with
 * `createKeymaster` and share it; `close()` it on shutdown.
 */
export class Keymaster {
  // The public face; the work is done by its parts: LocalChecks (decisions from the cache),
  // RemoteCalls (requests the server answers), CacheSync (stream, polling, status), the
  // SnapshotStore (the cache and its loads), FeatureDefinitions and the EventTracker.
  private readonly store: SnapshotStore;
  private readonly definitions: FeatureDefinitions;
  private readonly tracker: EventTracker;
  private readonly sync: CacheSync;
  private readonly checks: LocalChecks;
  private readonly remote: RemoteCalls;
  private readonly notifications: NotificationFeed;
  private readonly changeListeners = new Listeners<string | null>();
  private readonly syncListeners = new Listeners<SyncStatus>();
  private closed = false;

  constructor(options: KeymasterOptions) {
    const o = resolveOptions(options);
    const http: HttpSettings = { baseUrl: o.baseUrl, credential: o.credential, fetch: o.fetch, timeoutMs: o.timeoutMs };
    const onChange = (customer: string | null) => this.changeListeners.emit(customer);
    this.store = new SnapshotStore({
      http,
      clock: o.clock,
      cacheSize: o.cacheSize,
      onChange,
      onFirstLoad: (customer) => this.sync.start(customer),
    });
    this.definitions = new FeatureDefinitions({ http, signal: this.store.signal });
    this.tracker = new EventTracker({
      http,
      now: () => o.clock.now(),
      onError: o.onTrackError,
      options: o.tracking,
    });
    this.remote = new RemoteCalls({ http, clock: o.clock, store: this.store, onChange });
    this.notifications = new NotificationFeed({
      http,
      signal: this.store.signal,
      tokenMode: o.tokenMode,
      stream: o.stream,
      pollIntervalMs: o.pollIntervalMs,
      startClientStream: (customer) => this.sync.start(customer),
    });
    this.sync = new CacheSync({
      options: o,
      http,
      store: this.store,
      definitions: this.definitions,
      onChange,
      refreshSoon: (customer) => this.remote.refreshSoon(customer),
      statusListeners: this.syncListeners,
      notifications: this.notifications,
    });
    this.checks = new LocalChecks(o, this.store, this.sync);
    // A customer token's stream must name its customer: it starts with the first load.
    if (!o.tokenMode) this.sync.start(null);
  }

  /**
   * May `customer` use `feature` (and `quantity` more of it, default 1)? Answers synchronously
   * and never throws.
   *
   * - A cached customer is decided locally, exactly as the server would for the cached snapshot,
   *   without allocating: `source: 'cache'`.
   * - An uncached customer starts a load (shared with other callers) and gets the feature's
   *   failure policy at once: `source: 'fallback'`, `reason: 'loading'` (or `'unavailable'` when
   *   the server cannot be reached). `await km.load(customer)` or `checkAsync` to wait instead.
   *
   * @example
   * const decision = km.check('acme', 'api_calls', 10);
   * if (!decision.allowed) return res.status(402).send(decision.reason);
   */
  check(customer: string, feature: string, quantity = 1): Decision {
    return this.checks.check(customer, feature, quantity);
  }

  /**
   * Like `check`, but waits for the customer's snapshot when it is not cached. Never rejects:
   * when the load fails, the failure policy answers (`reason: 'unavailable'`).
   *
   * @example
   * const { allowed } = await km.checkAsync('acme', 'sso');
   */
  checkAsync(customer: string, feature: string, quantity = 1): Promise<Decision> {
    return this.checks.checkAsync(customer, feature, quantity);
  }

  /**
   * Fetches the customer's snapshot into the cache (or joins the fetch already out). Rejects
   * with a KeymasterError when the server cannot answer; a customer the server does not know is
   * cached as such (checks answer `unknown_customer`).
   *
   * @example
   * await km.load('acme'); // e.g. when the user signs in
   * km.check('acme', 'sso'); // decided locally from now on
   */
  load(customer: string): Promise<void> {
    return this.store.load(customer);
  }

  /** Drops the customer from the cache (or every customer); the next check loads again. */
  invalidate(customer?: string): void {
    if (customer === undefined) this.store.cache.clear();
    else this.store.cache.delete(customer);
    this.changeListeners.emit(customer ?? null);
  }

  /**
   * Fetches the catalog's feature definitions (every page of `GET /v1/features`; needs a secret
   * key) for `evaluate`, and keeps them fresh from then on: refetched when the stream reports a
   * catalog change, polled while it is down. Rejects with KeymasterError (a 401 for a rejected
   * key, status 0 when the server cannot be reached).
   *
   * @example
   * await km.loadDefinitions();
   * km.evaluate('new_checkout', { targetingKey: visitorId })?.value;
   */
  loadDefinitions(): Promise<void> {
    return this.sync.loadDefinitions();
  }

  /** The feature's definition as last fetched by `loadDefinitions`, or undefined. */
  definition(feature: string): Feature | undefined {
    return this.definitions.get(feature);
  }

  /** Whether feature definitions are loaded (`loadDefinitions` resolved once). */
  get definitionsLoaded(): boolean {
    return this.definitions.loaded;
  }

  /**
   * Evaluates a feature from its definition alone, without a customer — for anonymous visitors
   * or users Keymaster does not know — exactly as flagd evaluates the same flag (see
   * `evaluateFlag` in `@keymaster/core`): the default variant, or the variant the targeting rule
   * picks for `context` (`fractional` buckets on `context.targetingKey`). Synchronous and
   * allocation-light; plans, grants and usage play no part (use `check` for a customer).
   *
   * Answers undefined for a feature the catalog does not have, and before `loadDefinitions`
   * resolved (`definitionsLoaded`).
   *
   * @example
   * const answer = km.evaluate('banner_color', { targetingKey: visitorId, country: 'DE' });
   * const color = answer?.value ?? 'blue'; // reason: STATIC | TARGETING_MATCH | DEFAULT | DISABLED | ERROR
   */
  evaluate(feature: string, context: Record<string, unknown> = {}): FlagAnswer | undefined {
    return this.definitions.evaluate(feature, context as Parameters<FeatureDefinitions['evaluate']>[1]);
  }

  /**
   * Asks the server (`POST /v1/check`): the answer includes `upgrade` (the plans that would
   * allow it, for a paywall) and honours a targeting `context`. Rejects with KeymasterError.
   *
   * @example
   * const { upgrade } = await km.checkRemote({ customer: 'acme', feature: 'sso' });
   */
  checkRemote(input: {
    customer: string;
    feature: string;
    quantity?: number;
    context?: Record<string, unknown>;
  }): Promise<Decision> {
    return this.remote.checkRemote(input);
  }

  /**
   * Atomically checks and records usage on the server; only allowed usage is recorded. The
   * cached usage is updated from the answer. Rejects with KeymasterError (retry with the same
   * `idempotencyKey` to count once).
   *
   * @example
   * const d = await km.consume({ customer: 'acme', feature: 'api_calls', quantity: 1, idempotencyKey: requestId });
   * if (!d.allowed) throw new Error(`over the limit: ${d.limit}`);
   */
  consume(input: { customer: string; feature: string; quantity?: number; idempotencyKey?: string }): Promise<Decision> {
    return this.remote.consume(input);
  }

  /**
   * Holds `quantity` units for work whose final cost is not known yet (`POST /v1/reservations`);
   * settle with `commit` or `release`. A refused hold answers `status: 'refused'`, `id: null`.
   *
   * @example
   * const hold = await km.reserve({ customer: 'acme', feature: 'tokens', quantity: 4000 });
   * if (hold.id) await km.commit(hold.id, { quantity: 3120 });
   */
  reserve(input: { customer: string; feature: string; quantity: number; ttlSeconds?: number }): Promise<Reservation> {
    return this.remote.reserve(input);
  }

  /** Settles a hold with the units actually used (default: all held). */
  commit(id: string, input: { quantity?: number } = {}): Promise<Reservation> {
    return this.remote.commit(id, input);
  }

  /** Gives a hold back unused. */
  release(id: string): Promise<Reservation> {
    return this.remote.release(id);
  }

  /**
   * Records a gauge's level (`POST /v1/customers/{id}/usage`): `set` it, or move it by `delta`
   * (exactly one). Recording never refuses over the cap: ask `check` with a quantity before
   * adding. Answers the new level; the customer's cached entitlements are refreshed.
   *
   * @example
   * if (km.check('acme', 'seats').allowed) await km.setUsage({ customer: 'acme', feature: 'seats', delta: 1 });
   */
  setUsage(input: { customer: string; feature: string; set?: number; delta?: number }): Promise<number> {
    return this.remote.setUsage(input);
  }

  /**
   * A metered feature's usage over time (`GET /v1/customers/{id}/usage`) in UTC `hour` or `day`
   * buckets. Without `from` and `to`: the current usage period, whose `total` is what `check`
   * reports as usage.
   *
   * @example
   * const { buckets } = await km.usageHistory({ customer: 'acme', feature: 'api_calls', granularity: 'hour' });
   */
  usageHistory(input: {
    customer: string;
    feature: string;
    from?: Date | string;
    to?: Date | string;
    granularity?: 'hour' | 'day';
  }): Promise<UsageHistory> {
    return this.remote.usageHistory(input);
  }

  /**
   * A page of the customer's in-app notifications (`GET /v1/customers/{id}/notifications`),
   * newest first: `unread: true` for those not marked read; `limit` (1-100, default 20) and the
   * previous page's `next_cursor` as `cursor` to page. Works with a secret key, or a customer
   * token for that customer (another customer's answers 403 `customer_mismatch`). Rejects with
   * KeymasterError.
   *
   * @example
   * const { data, has_more, next_cursor } = await km.listNotifications({ customer: 'acme', unread: true });
   */
  listNotifications(input: {
    customer: string;
    unread?: boolean;
    limit?: number;
    cursor?: string;
  }): Promise<NotificationPage> {
    return this.notifications.list(input);
  }

  /**
   * Marks one notification read (`POST /v1/customers/{id}/notifications/{nid}/read`; again keeps
   * the first `read_at`) and drops it from the unread list `onNotifications` follows. Rejects
   * with KeymasterError (404 `notification_not_found` when it is not the customer's).
   *
   * @example
   * await km.markNotificationRead({ customer: 'acme', id: 'ntf_01j…' });
   */
  markNotificationRead(input: { customer: string; id: string }): Promise<Notification> {
    return this.notifications.markRead(input);
  }

  /**
   * Marks every unread notification of the customer read: pages through the unread ones and
   * marks each (four requests at a time). Answers how many it marked. Ones arriving meanwhile may
   * stay unread. Rejects with KeymasterError at the first failure; those marked before stay read.
   *
   * @example
   * const marked = await km.markAllNotificationsRead({ customer: 'acme' });
   */
  markAllNotificationsRead(input: { customer: string }): Promise<number> {
    return this.notifications.markAllRead(input);
  }

  /**
   * Follows the customer's unread notifications: fetches the newest (up to 20) and calls
   * `listener` with them, then again each time the stream pushes a new one or this client marks
   * some read. With a customer token they come on the client's own stream; with a secret key the
   * customer gets a stream of their own (`GET /v1/stream?customer=`), shared by their listeners
   * and closed with the last. While the stream is down the list is polled every `pollIntervalMs`.
   * A failed fetch sets `error` (403 `customer_mismatch` for a token of another customer).
   * Returns the unsubscribe.
   *
   * @example
   * const stop = km.onNotifications('acme', ({ notifications, more }) =>
   *   renderBadge(more ? `${notifications.length}+` : String(notifications.length)),
   * );
   */
  onNotifications(customer: string, listener: (unread: UnreadNotifications) => void): () => void {
    return this.notifications.follow(customer, listener);
  }

  /**
   * The unread notifications of a customer followed with `onNotifications` as last heard (the
   * same object until they change), or undefined when no one follows them.
   */
  unreadNotifications(customer: string): UnreadNotifications | undefined {
    return this.notifications.current(customer);
  }

  /**
   * Queues usage events for `POST /v1/events`: sent in batches, retried with the same ids after
   * a 5xx or network error (the server counts each once), dropped and reported to
   * `onTrackError` after a 4xx. Returns at once; `flush()` or `close()` to wait.
   *
   * @example
   * km.track({ customer: 'acme', type: 'api_call', properties: { route: '/search' } });
   */
  track(events: UsageEvent | UsageEvent[]): void {
    if (this.closed) return;
    this.tracker.track(Array.isArray(events) ? events : [events]);
  }

  /** Sends every queued event now. */
  flush(): Promise<void> {
    return this.tracker.flush();
  }

  /**
   * Calls `listener` after a customer's cached entitlements changed (the id), or after anything
   * that may change every customer's (null: a catalog change, a reset). Returns an unsubscribe.
   */
  onChange(listener: (customer: string | null) => void): () => void {
    return this.changeListeners.add(listener);
  }

  /**
   * Calls `listener` when the way the cache is kept fresh changes: the stream came up (`live`)
   * or went down (`polling`, answers may grow stale), or the server refused the credential
   * (`refused`). Returns an unsubscribe.
   */
  onSync(listener: (status: SyncStatus) => void): () => void {
    return this.syncListeners.add(listener);
  }

  /** How the cache is kept fresh right now. */
  status(): SyncStatus {
    return this.sync.status();
  }

  /** Flushes tracked events, then stops the stream, polling and requests: no timers or sockets remain. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sync.stopped = true;
    await this.tracker.close();
    await Promise.all([this.sync.close(), this.store.close(), this.notifications.close()]);
    this.changeListeners.clear();
    this.syncListeners.clear();
  }
}

/**
 * Creates a client. On a server, with a secret key:
 *
 * @example
 * import { createKeymaster } from '@keymaster/sdk';
 * const km = createKeymaster({ baseUrl: 'http://localhost:8080', apiKey: process.env.KEYMASTER_API_KEY! });
 * await km.load('acme');
 * km.check('acme', 'sso').allowed;
 */
export function createKeymaster(options: KeymasterOptions): Keymaster {
  return new Keymaster(options);
}
