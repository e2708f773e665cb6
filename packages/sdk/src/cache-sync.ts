import type { CustomerEntitlements } from '@keymaster/contract';
import type { KeymasterError } from './errors.js';
import type { FeatureDefinitions } from './feature-definitions.js';
import { type HttpSettings, unrefTimer } from './http.js';
import type { Listeners } from './listeners.js';
import type { NotificationFeed } from './notification-feed.js';
import type { ResolvedOptions } from './options.js';
import type { SnapshotStore } from './snapshot-store.js';
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
 * Keeps the cached customers and feature definitions fresh: from the server's stream while it is
 * live, by polling while it is down or off, and reports which of the two is on (`SyncStatus`).
 */
export class CacheSync {
  /** Whether the stream is connected: every cached snapshot is current. */
  live = false;
  /** When the stream last went down: cached snapshots are current as of then. */
  liveUntil = 0;
  /** Set when the client closes: no stream, polling or refetch starts after. */
  stopped = false;
  private refused: KeymasterError | null = null;
  private stream: StreamSubscription | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  /** Whether feature definitions were asked for: only then are they kept fresh. */
  private definitionsWanted = false;

  constructor(
    private readonly deps: {
      options: ResolvedOptions;
      http: HttpSettings;
      store: SnapshotStore;
      definitions: FeatureDefinitions;
      /** A customer's cached entitlements changed (the id), or maybe everyone's (null). */
      onChange: (customer: string | null) => void;
      /** Refetches a customer's snapshot if it is cached. */
      refreshSoon: (customer: string) => void;
      /** Told when the status changes. */
      statusListeners: Listeners<SyncStatus>;
      /** With a customer token the stream is that customer's: it carries their notifications too. */
      notifications: Pick<NotificationFeed, 'onClientStreamLive' | 'onClientStreamDown' | 'onClientStreamEvent'>;
    },
  ) {}

  /**
   * Starts the stream (naming `customer` for a customer token) and polling until it is live;
   * once only.
   */
  start(customer: string | null): void {
    const { options } = this.deps;
    if (this.stopped || this.stream !== null || this.pollTimer !== null) return;
    this.startPolling();
    if (!options.stream) return;
    this.stream = new StreamSubscription(
      {
        http: this.deps.http,
        customer: options.tokenMode ? customer : null,
        reconnectBaseMs: 500,
        reconnectMaxMs: 30_000,
        unsupportedRetryMs: 5 * 60_000,
      },
      {
        onLive: ({ resumed }) => {
          this.live = true;
          this.refused = null;
          this.stopPolling();
          // Without a resume point, changes made before the subscription may be missing.
          if (!resumed) {
            this.deps.store.refreshAll({ markDirty: false });
            this.refreshDefinitions();
          }
          this.deps.notifications.onClientStreamLive(resumed);
          this.emitStatus();
        },
        onDown: ({ refused }) => {
          const wasLive = this.live;
          const newlyRefused = refused !== null && refused.code !== this.refused?.code;
          if (wasLive) this.liveUntil = options.clock.now();
          this.live = false;
          if (refused) this.refused = refused;
          this.startPolling();
          this.deps.notifications.onClientStreamDown();
          if (wasLive || newlyRefused) this.emitStatus();
        },
        onEvent: (event) => {
          this.applyEvent(event);
          this.deps.notifications.onClientStreamEvent(event);
        },
      },
    );
    this.stream.start();
  }

  /** Fetches the feature definitions and keeps them fresh from then on (see `Keymaster.loadDefinitions`). */
  async loadDefinitions(): Promise<void> {
    this.definitionsWanted = true;
    if (await this.deps.definitions.refresh()) this.deps.onChange(null);
  }

  status(): SyncStatus {
    return {
      mode: this.live ? 'live' : 'polling',
      reachable: this.deps.store.reachable,
      cached: this.deps.store.cache.size,
      refused: this.refused,
    };
  }

  /** Stops polling and the stream (set `stopped` first: nothing restarts them); waits for the stream to close. */
  async close(): Promise<void> {
    this.stopPolling();
    await this.stream?.close();
  }

  private startPolling(): void {
    if (this.pollTimer !== null || this.stopped) return;
    this.pollTimer = setInterval(() => {
      this.deps.store.refreshAll({ markDirty: false });
      this.refreshDefinitions();
    }, this.deps.options.pollIntervalMs);
    unrefTimer(this.pollTimer);
  }

  private stopPolling(): void {
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  private applyEvent(event: SseEvent): void {
    const { store } = this.deps;
    if (event.event === 'catalog' || event.event === 'reset') {
      // Keep answering from what is cached while every customer is refetched.
      store.refreshAll({ markDirty: true });
      this.deps.onChange(null);
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
      store.refreshAll({ markDirty: true });
      return;
    }
    const snapshot = payload.entitlements;
    if (snapshot && typeof snapshot === 'object' && Array.isArray(snapshot.entitlements)) {
      store.apply(snapshot, { evenIfUncached: false });
    } else this.deps.refreshSoon(payload.customer);
  }

  /** Refetches the feature definitions once asked for; a failure keeps the ones cached. */
  private refreshDefinitions(): void {
    if (!this.definitionsWanted || this.stopped) return;
    this.deps.definitions.refresh().then(
      (changed) => {
        if (changed) this.deps.onChange(null);
      },
      () => undefined,
    );
  }

  private emitStatus(): void {
    this.deps.statusListeners.emit(this.status());
  }
}
