import type { IngestResult } from '@keymaster/contract';
import { v7 } from 'uuid';
import { KeymasterError } from './errors.js';
import { backoffMs, type HttpSettings, requestJson, unrefTimer } from './http.js';

/**
 * A usage event for `track`. Without an `id` one is made (a UUIDv7), so retries count once. Ids
 * of your own are best time-ordered too (UUIDv7, ULID): the server's de-duplication index takes
 * them in order, where random ids (UUIDv4) cost SQLite several times the writing (README,
 * benchmarks).
 */
export interface UsageEvent {
  id?: string;
  customer: string;
  type: string;
  /** ISO-8601; default: when `track` was called (not when the batch happens to be sent). */
  timestamp?: string;
  properties?: Record<string, unknown>;
}

/** Events as sent: id and timestamp always set. */
export type SentEvent = Required<Pick<UsageEvent, 'id' | 'customer' | 'type' | 'timestamp'>> &
  Pick<UsageEvent, 'properties'>;

export interface TrackingOptions {
  /** Events per request, 1–1,000 (default 100): a full batch is sent at once. */
  batchSize?: number;
  /** How long an event may wait for its batch to fill (default 1,000 ms). */
  flushIntervalMs?: number;
  /** Retries of a batch after a 5xx or network error before it is dropped (default 8). */
  maxRetries?: number;
  /** Events held at most; beyond, the oldest are dropped and reported (default 10,000). */
  maxQueued?: number;
}

/** Reported through `onError`: what went wrong and which events it cost. */
export interface TrackError {
  error: KeymasterError;
  /** Events dropped (a 4xx, retries exhausted, queue full) or rejected one by one by the server. */
  events: SentEvent[];
}

/**
 * Batches events into `POST /v1/events`. One batch is in flight at a time; a failed batch is
 * retried whole, with the same ids, so the server counts each event once however often it is
 * sent. A 4xx is not retried (it would fail again): the batch is dropped and reported.
 */
export class EventTracker {
  private queue: SentEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sending: Promise<void> | null = null;
  private retryTimer: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | null = null;
  private closing = false;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxRetries: number;
  private readonly maxQueued: number;

  constructor(
    private readonly deps: {
      http: HttpSettings;
      now: () => number;
      onError: (error: TrackError) => void;
      options: TrackingOptions;
    },
  ) {
    const o = deps.options;
    this.batchSize = Math.min(1000, Math.max(1, o.batchSize ?? 100));
    this.flushIntervalMs = o.flushIntervalMs ?? 1000;
    this.maxRetries = o.maxRetries ?? 8;
    this.maxQueued = Math.max(this.batchSize, o.maxQueued ?? 10_000);
  }

  get pending(): number {
    return this.queue.length;
  }

  track(events: UsageEvent[]): void {
    const timestamp = new Date(this.deps.now()).toISOString();
    for (const e of events) {
      this.queue.push({
        id: e.id ?? v7(),
        customer: e.customer,
        type: e.type,
        timestamp: e.timestamp ?? timestamp,
        ...(e.properties === undefined ? {} : { properties: e.properties }),
      });
    }
    if (this.queue.length > this.maxQueued) {
      const dropped = this.queue.splice(0, this.queue.length - this.maxQueued);
      this.report({ code: 'queue_full', message: `${dropped.length} events dropped: the queue is full`, dropped });
    }
    if (this.queue.length >= this.batchSize) void this.flush();
    else if (this.timer === null && !this.closing) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.flush();
      }, this.flushIntervalMs);
      unrefTimer(this.timer);
    }
  }

  /** Sends everything queued; resolves when the queue is empty (or what is left was dropped). */
  async flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    while (this.sending || this.queue.length > 0) {
      if (!this.sending) {
        this.sending = this.sendBatch(this.queue.splice(0, this.batchSize)).finally(() => {
          this.sending = null;
        });
      }
      await this.sending;
    }
  }

  /** Flushes, retrying at once rather than after backoff, then stops for good. */
  async close(): Promise<void> {
    this.closing = true;
    this.retryTimer?.resolve();
    await this.flush();
  }

  private async sendBatch(batch: SentEvent[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await requestJson<IngestResult>(this.deps.http, {
          method: 'POST',
          path: '/v1/events',
          body: { events: batch },
        });
        if (result.rejected.length > 0) {
          const dropped = result.rejected.map((r) => batch[r.index]).filter((e): e is SentEvent => e !== undefined);
          const detail = result.rejected.map((r) => `#${r.index}: ${r.error}`).join('; ');
          this.report({ code: 'event_rejected', message: `events rejected: ${detail}`, dropped, status: 200 });
        }
        return;
      } catch (error) {
        const e =
          error instanceof KeymasterError
            ? error
            : new KeymasterError({ message: String(error), status: 0, code: 'network_error' });
        if (!e.retryable || attempt >= this.maxRetries || (this.closing && attempt >= 2)) {
          this.deps.onError({ error: e, events: batch });
          return;
        }
        await this.wait(this.closing ? 0 : backoffMs({ attempt, baseMs: 250, capMs: 30_000 }));
      }
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.retryTimer = null;
        resolve();
      }, ms);
      this.retryTimer = {
        timer,
        resolve: () => {
          clearTimeout(timer);
          this.retryTimer = null;
          resolve();
        },
      };
    });
  }

  private report(input: { code: string; message: string; dropped: SentEvent[]; status?: number }): void {
    this.deps.onError({
      error: new KeymasterError({ message: input.message, status: input.status ?? 0, code: input.code }),
      events: input.dropped,
    });
  }
}
