import type {
  CustomerEntitlements,
  GaugeLevel,
  Reservation,
  Decision as ServerDecision,
  UsageHistory,
} from '@keymaster/contract';
import type { Feature } from '@keymaster/core';
import { answer, buildSlot, missingSlot } from './cached-customer.js';
import { type Decision, fallbackDecision, fromServer } from './decision.js';
import type { KeymasterError } from './errors.js';
import { EventTracker, type UsageEvent } from './event-tracker.js';
import { FeatureDefinitions, type FlagAnswer } from './feature-definitions.js';
import { type HttpSettings, requestJson, unrefTimer } from './http.js';
import { type KeymasterOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { SnapshotStore } from './snapshot-store.js';
import type { SseEvent } from './sse-parser.js';
import { StreamSubscription } from './stream-subscription.js';

/** How the cache is kept fresh right now. */
export interface SyncStatus {
  /** `live`: the stream is connected; `polling`: it is down or off and cached customers are refetched. */
  mode: 'live' | 'polling';
  /** False since a request got no answer or a 5xx, until one succeeds. */
  reachable: boolean;
  cached: number;
  /**
   * Set when the server refused this client's credential on the stream (the key was revoked,
   * the customer token expired or its customer was erased: `code` says which); null otherwise.
   * Nothing will work with that credential again: create a client with a new one.
   */
  refused: KeymasterError | null;
}

/**
 * A Keymaster client with a local cache. Create one per process (or page) with
 * `createKeymaster` and share it; `close()` it on shutdown.
 */
export class Keymaster {
  private readonly options: ResolvedOptions;
  private readonly http: HttpSettings;
  private readonly store: SnapshotStore;
  private readonly tracker: EventTracker;
  private stream: StreamSubscription | null = null;
  private streamLive = false;
  private refused: KeymasterError | null = null;
  /** While the stream is live every cached snapshot is current; after, they are current as of then. */
  private liveUntil = 0;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private readonly listeners = new Set<(customer: string | null) => void>();
  private readonly syncListeners = new Set<(status: SyncStatus) => void>();
  private readonly definitions: FeatureDefinitions;
  /** Whether feature definitions were asked for: only then are they kept fresh. */
  private definitionsWanted = false;
  private closed = false;

  constructor(options: KeymasterOptions) {
    this.options = resolveOptions(options);
    const o = this.options;
    this.http = { baseUrl: o.baseUrl, credential: o.credential, fetch: o.fetch, timeoutMs: o.timeoutMs };
    this.store = new SnapshotStore({
      http: this.http,
      clock: o.clock,
      cacheSize: o.cacheSize,
      onChange: (customer) => this.emit(customer),
      onFirstLoad: (customer) => this.startSync(customer),
    });
    this.definitions = new FeatureDefinitions({ http: this.http, signal: this.store.signal });
    this.tracker = new EventTracker({
      http: this.http,
      now: () => o.clock.now(),
      onError: o.onTrackError,
      options: o.tracking,
    });
    // A customer token's stream must name its customer: it starts with the first load.
    if (!o.tokenMode) this.startSync(null);
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
    const now = this.options.clock.now();
    const entry = this.store.cache.get(customer);
    if (entry === undefined) return this.miss(customer, feature, now);
    entry.referenced = true;
    if ((entry.dirty || now >= entry.expiresAt) && this.store.mayAutoLoad(now)) this.store.loadQuietly(customer);
    const slot =
      entry.slots.get(feature) ?? missingSlot({ customer: entry, feature, knownFeatures: this.store.knownFeatures });
    const confirmed = this.streamLive ? now : Math.max(entry.fetchedAt, this.liveUntil);
    return answer(slot, quantity, now - confirmed > this.options.staleAfterMs);
  }

  /**
   * Like `check`, but waits for the customer's snapshot when it is not cached. Never rejects:
   * when the load fails, the failure policy answers (`reason: 'unavailable'`).
   *
   * @example
   * const { allowed } = await km.checkAsync('acme', 'sso');
   */
  async checkAsync(customer: string, feature: string, quantity = 1): Promise<Decision> {
    if (!this.store.cache.has(customer)) await this.store.load(customer).catch(() => undefined);
    return this.check(customer, feature, quantity);
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
    this.emit(customer ?? null);
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
  async loadDefinitions(): Promise<void> {
    this.definitionsWanted = true;
    if (await this.definitions.refresh()) this.emit(null);
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
  async checkRemote(input: {
    customer: string;
    feature: string;
    quantity?: number;
    context?: Record<string, unknown>;
  }): Promise<Decision> {
    const decision = await this.post<ServerDecision>('/v1/check', input);
    return fromServer(decision, this.nowIso());
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
  async consume(input: {
    customer: string;
    feature: string;
    quantity?: number;
    idempotencyKey?: string;
  }): Promise<Decision> {
    const decision = await this.post<ServerDecision>('/v1/consume', {
      customer: input.customer,
      feature: input.feature,
      ...(input.quantity === undefined ? {} : { quantity: input.quantity }),
      ...(input.idempotencyKey === undefined ? {} : { idempotency_key: input.idempotencyKey }),
    });
    this.updateFromDecision(decision);
    return fromServer(decision, this.nowIso());
  }

  /**
   * Holds `quantity` units for work whose final cost is not known yet (`POST /v1/reservations`);
   * settle with `commit` or `release`. A refused hold answers `status: 'refused'`, `id: null`.
   *
   * @example
   * const hold = await km.reserve({ customer: 'acme', feature: 'tokens', quantity: 4000 });
   * if (hold.id) await km.commit(hold.id, { quantity: 3120 });
   */
  async reserve(input: {
    customer: string;
    feature: string;
    quantity: number;
    ttlSeconds?: number;
  }): Promise<Reservation> {
    const reservation = await this.post<Reservation>('/v1/reservations', {
      customer: input.customer,
      feature: input.feature,
      quantity: input.quantity,
      ...(input.ttlSeconds === undefined ? {} : { ttl_seconds: input.ttlSeconds }),
    });
    this.refreshSoon(reservation.customer);
    return reservation;
  }

  /** Settles a hold with the units actually used (default: all held). */
  async commit(id: string, input: { quantity?: number } = {}): Promise<Reservation> {
    const reservation = await this.post<Reservation>(`/v1/reservations/${encodeURIComponent(id)}/commit`, input);
    this.refreshSoon(reservation.customer);
    return reservation;
  }

  /** Gives a hold back unused. */
  async release(id: string): Promise<Reservation> {
    const reservation = await this.post<Reservation>(`/v1/reservations/${encodeURIComponent(id)}/release`, {});
    this.refreshSoon(reservation.customer);
    return reservation;
  }

  /**
   * Records a gauge's level (`POST /v1/customers/{id}/usage`): `set` it, or move it by `delta`
   * (exactly one). Recording never refuses over the cap: ask `check` with a quantity before
   * adding. Answers the new level; the customer's cached entitlements are refreshed.
   *
   * @example
   * if (km.check('acme', 'seats').allowed) await km.setUsage({ customer: 'acme', feature: 'seats', delta: 1 });
   */
  async setUsage(input: { customer: string; feature: string; set?: number; delta?: number }): Promise<number> {
    const level = await this.post<GaugeLevel>(`/v1/customers/${encodeURIComponent(input.customer)}/usage`, {
      feature: input.feature,
      ...(input.set === undefined ? {} : { set: input.set }),
      ...(input.delta === undefined ? {} : { delta: input.delta }),
    });
    this.refreshSoon(input.customer);
    return level.usage;
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
    const query = new URLSearchParams({ feature: input.feature });
    const iso = (at: Date | string) => (typeof at === 'string' ? at : at.toISOString());
    if (input.from !== undefined) query.set('from', iso(input.from));
    if (input.to !== undefined) query.set('to', iso(input.to));
    if (input.granularity !== undefined) query.set('granularity', input.granularity);
    return requestJson<UsageHistory>(this.http, {
      method: 'GET',
      path: `/v1/customers/${encodeURIComponent(input.customer)}/usage?${query}`,
      signal: this.store.signal,
    });
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
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Calls `listener` when the way the cache is kept fresh changes: the stream came up (`live`)
   * or went down (`polling`, answers may grow stale), or the server refused the credential
   * (`refused`). Returns an unsubscribe.
   */
  onSync(listener: (status: SyncStatus) => void): () => void {
    this.syncListeners.add(listener);
    return () => this.syncListeners.delete(listener);
  }

  /** How the cache is kept fresh right now. */
  status(): SyncStatus {
    return {
      mode: this.streamLive ? 'live' : 'polling',
      reachable: this.store.reachable,
      cached: this.store.cache.size,
      refused: this.refused,
    };
  }

  /** Flushes tracked events, then stops the stream, polling and requests: no timers or sockets remain. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tracker.close();
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
    await Promise.all([this.stream?.close(), this.store.close()]);
    this.listeners.clear();
    this.syncListeners.clear();
  }

  private miss(customer: string, feature: string, now: number): Decision {
    if (!this.closed && this.store.mayAutoLoad(now)) this.store.loadQuietly(customer);
    const loading = this.store.isLoading(customer) && this.store.reachable;
    return fallbackDecision({
      customer,
      feature,
      reason: loading ? 'loading' : 'unavailable',
      policy: this.options.failurePolicy,
    });
  }

  private startSync(customer: string | null): void {
    if (this.closed || this.stream !== null || this.pollTimer !== null) return;
    this.startPolling();
    if (!this.options.stream) return;
    this.stream = new StreamSubscription(
      {
        http: this.http,
        customer: this.options.tokenMode ? customer : null,
        reconnectBaseMs: 500,
        reconnectMaxMs: 30_000,
        unsupportedRetryMs: 5 * 60_000,
      },
      {
        onLive: ({ resumed }) => {
          this.streamLive = true;
          this.refused = null;
          this.stopPolling();
          // Without a resume point, changes made before the subscription may be missing.
          if (!resumed) {
            this.store.refreshAll({ markDirty: false });
            this.refreshDefinitions();
          }
          this.emitSync();
        },
        onDown: ({ refused }) => {
          const wasLive = this.streamLive;
          const newlyRefused = refused !== null && refused.code !== this.refused?.code;
          if (wasLive) this.liveUntil = this.options.clock.now();
          this.streamLive = false;
          if (refused) this.refused = refused;
          this.startPolling();
          if (wasLive || newlyRefused) this.emitSync();
        },
        onEvent: (event) => this.applyEvent(event),
      },
    );
    this.stream.start();
  }

  private startPolling(): void {
    if (this.pollTimer !== null || this.closed) return;
    this.pollTimer = setInterval(() => {
      this.store.refreshAll({ markDirty: false });
      this.refreshDefinitions();
    }, this.options.pollIntervalMs);
    unrefTimer(this.pollTimer);
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  private applyEvent(event: SseEvent): void {
    if (event.event === 'catalog' || event.event === 'reset') {
      // Keep answering from what is cached while every customer is refetched.
      this.store.refreshAll({ markDirty: true });
      this.emit(null);
      this.refreshDefinitions();
      return;
    }
    if (event.event !== 'customer' && event.event !== 'usage') return;
    let payload: { customer?: unknown; entitlements?: CustomerEntitlements | null };
    try {
      payload = JSON.parse(event.data) as typeof payload;
    } catch {
      payload = {};
    }
    if (typeof payload.customer !== 'string') {
      // Cannot tell whose entitlements changed: refetch everyone's rather than miss it.
      this.store.refreshAll({ markDirty: true });
      return;
    }
    const snapshot = payload.entitlements;
    if (snapshot && typeof snapshot === 'object' && Array.isArray(snapshot.entitlements)) {
      this.store.apply(snapshot, { evenIfUncached: false });
    } else this.refreshSoon(payload.customer);
  }

  /** Refetches the feature definitions once asked for; a failure keeps the ones cached. */
  private refreshDefinitions(): void {
    if (!this.definitionsWanted || this.closed) return;
    this.definitions.refresh().then(
      (changed) => {
        if (changed) this.emit(null);
      },
      () => undefined,
    );
  }

  private emitSync(): void {
    const status = this.status();
    for (const listener of this.syncListeners) {
      try {
        listener(status);
      } catch {
        // As for onChange: a listener's bug must not stop the sync.
      }
    }
  }

  private refreshSoon(customer: string): void {
    if (this.store.cache.has(customer)) this.store.loadQuietly(customer);
  }

  /** After a consume, the answer's usage replaces the cached one for that feature. */
  private updateFromDecision(decision: ServerDecision): void {
    const entry = this.store.cache.get(decision.customer);
    if (!entry?.known || decision.type === null || !entry.slots.has(decision.feature)) return;
    const enabled = decision.allowed || decision.reason === 'limit_reached';
    entry.slots.set(
      decision.feature,
      buildSlot({
        customer: decision.customer,
        asOf: entry.asOf,
        entry: {
          feature: decision.feature,
          type: decision.type,
          enabled,
          reason: enabled ? 'entitled' : decision.reason,
          limit: decision.limit,
          unlimited: decision.unlimited,
          usage: decision.usage,
          balance: decision.balance,
          overage: decision.overage,
          reset: null,
          window: null,
          credit_cost: decision.credit_cost,
          resets_at: decision.resets_at,
          value: decision.value,
          source: null,
        },
      }),
    );
    this.emit(decision.customer);
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return requestJson<T>(this.http, { method: 'POST', path, body, signal: this.store.signal });
  }

  private nowIso(): string {
    return new Date(this.options.clock.now()).toISOString();
  }

  private emit(customer: string | null): void {
    for (const listener of this.listeners) {
      try {
        listener(customer);
      } catch {
        // A listener's bug must not stop the cache from updating.
      }
    }
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
