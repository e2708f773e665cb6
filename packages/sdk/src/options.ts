import type { FailurePolicy } from './decision.js';
import type { TrackError, TrackingOptions } from './event-tracker.js';
import type { Fetch } from './http.js';

/** A source of the current time in epoch ms; `Date` by default. */
export interface Clock {
  now(): number;
}

/**
 * Settings for `createKeymaster`. Give `apiKey` (a secret key, on servers) or `customerToken`
 * (from `POST /v1/customer-tokens`, in browsers: it reads one customer only).
 */
export interface KeymasterOptions {
  /** The server's address, e.g. `https://keymaster.internal:8080` (no trailing `/v1`). */
  baseUrl: string;
  apiKey?: string;
  customerToken?: string;
  /** Customers cached at most (default 10,000); the least recently checked are evicted. */
  cacheSize?: number;
  /** What `check` answers with nothing cached and no server to ask (default: closed for all). */
  failurePolicy?: FailurePolicy;
  /**
   * A cached answer older than this that neither the stream nor polling could confirm is marked
   * `stale: true` (default 60,000 ms). It is still served: the server is unreachable.
   */
  staleAfterMs?: number;
  /** While the stream is down or off, refetch cached customers this often (default 15,000 ms). */
  pollIntervalMs?: number;
  /** Subscribe to `GET /v1/stream` for pushed updates (default true); false polls only. */
  stream?: boolean;
  /** Give up on a request after this long (default 5,000 ms). */
  timeoutMs?: number;
  fetch?: Fetch;
  clock?: Clock;
  /** Batching of `track`. */
  tracking?: TrackingOptions;
  /** Events `track` had to drop or the server rejected; by default logged with console.warn. */
  onTrackError?: (error: TrackError) => void;
}

export interface ResolvedOptions {
  baseUrl: string;
  credential: string;
  tokenMode: boolean;
  cacheSize: number;
  failurePolicy: FailurePolicy;
  staleAfterMs: number;
  pollIntervalMs: number;
  stream: boolean;
  timeoutMs: number;
  fetch: Fetch;
  clock: Clock;
  tracking: TrackingOptions;
  onTrackError: (error: TrackError) => void;
}

export function resolveOptions(options: KeymasterOptions): ResolvedOptions {
  const credential = options.apiKey ?? options.customerToken;
  if (!credential) throw new TypeError('createKeymaster: give apiKey or customerToken');
  if (options.apiKey && options.customerToken)
    throw new TypeError('createKeymaster: give apiKey or customerToken, not both');
  const fetchImpl = options.fetch ?? globalThis.fetch;
  if (typeof fetchImpl !== 'function') throw new TypeError('createKeymaster: no global fetch; pass `fetch`');
  return {
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    credential,
    tokenMode: options.apiKey === undefined,
    cacheSize: Math.max(1, options.cacheSize ?? 10_000),
    failurePolicy: options.failurePolicy ?? { default: 'closed' },
    staleAfterMs: options.staleAfterMs ?? 60_000,
    pollIntervalMs: options.pollIntervalMs ?? 15_000,
    stream: options.stream ?? true,
    timeoutMs: options.timeoutMs ?? 5_000,
    // Called unbound, a browser's fetch throws "Illegal invocation".
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    clock: options.clock ?? Date,
    tracking: options.tracking ?? {},
    onTrackError:
      options.onTrackError ??
      ((e) => console.warn(`keymaster: ${e.events.length} usage events not recorded: ${e.error.message}`)),
  };
}
