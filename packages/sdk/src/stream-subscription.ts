import { KeymasterError } from './errors.js';
import { backoffMs, type HttpSettings, problemError, unrefTimer } from './http.js';
import { type SseEvent, SseParser } from './sse-parser.js';

/** What the subscription reports to the client. */
export interface StreamHandlers {
  /** After `ready`: events flow. `resumed` when the server continued from `Last-Event-ID`. */
  onLive: (input: { resumed: boolean }) => void;
  /**
   * The stream is down (an error, a cut, a 404 when the server has no stream): poll meanwhile.
   * `refused` when the server refused the credential (a 401 or 403, or a `revoked` event).
   */
  onDown: (input: { unsupported: boolean; refused: KeymasterError | null; error: unknown }) => void;
  onEvent: (event: SseEvent) => void;
}

export interface StreamSettings {
  http: HttpSettings;
  /** `?customer=`: required with a customer token. */
  customer: string | null;
  /** Retry delays: full jitter between 0 and min(max, base × 2^attempt). */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /**
   * After a 404, try again this much later (the server may be upgraded meanwhile); after the
   * credential was refused too: it will not work again soon, but a key just created may not have
   * reached that server yet.
   */
  unsupportedRetryMs: number;
}

/**
 * `GET /v1/stream` over fetch (Node 20 has no EventSource, and EventSource cannot send an
 * Authorization header). Reconnects by itself with `Last-Event-ID` and backoff; a stream that
 * stays silent for three heartbeats is taken for cut (a proxy that dropped it without a FIN).
 */
export class StreamSubscription {
  private controller: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private lastEventId = '';
  private heartbeatMs = 15_000;
  private closed = false;
  private running: Promise<void> | null = null;

  constructor(
    private readonly settings: StreamSettings,
    private readonly handlers: StreamHandlers,
  ) {}

  start(): void {
    if (this.closed || this.running) return;
    this.running = this.connect().finally(() => {
      this.running = null;
    });
  }

  /** Stops for good: aborts the request and cancels every timer; resolves when the read ended. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.clearWatchdog();
    this.controller?.abort();
    await this.running;
  }

  private async connect(): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    const { http } = this.settings;
    const url = new URL(`${http.baseUrl}/v1/stream`);
    if (this.settings.customer !== null) url.searchParams.set('customer', this.settings.customer);
    const headers: Record<string, string> = {
      authorization: `Bearer ${http.credential}`,
      accept: 'text/event-stream',
    };
    const resuming = this.lastEventId !== '';
    if (resuming) headers['last-event-id'] = this.lastEventId;
    let live = false;
    let unsupported = false;
    let refused: KeymasterError | null = null;
    let failure: unknown = null;
    // Also guards the wait for headers: a server that accepts and never answers is cut.
    this.armWatchdog(Math.max(http.timeoutMs, 1));
    try {
      const response = await http.fetch(url, { headers, signal: controller.signal });
      if (!response.ok || response.body === null) {
        unsupported = response.status === 404 || response.status === 405;
        const text = await response.text().catch(() => '');
        const error = problemError({ response, text, method: 'GET', path: '/v1/stream' });
        if (response.status === 401 || response.status === 403) refused = error;
        throw error;
      }
      const parser = new SseParser(
        {
          onActivity: () => this.armWatchdog(this.heartbeatMs * 3),
          onRetry: () => undefined,
          onEvent: (event) => {
            if (event.event === 'ready') {
              live = true;
              this.attempt = 0;
              this.heartbeatMs = heartbeatOf(event.data) ?? this.heartbeatMs;
              this.armWatchdog(this.heartbeatMs * 3);
              this.lastEventId = event.lastEventId;
              this.handlers.onLive({ resumed: resuming });
              return;
            }
            if (event.event === 'revoked') {
              // The server ends the stream next: its credential no longer holds.
              refused = revokedError(event.data);
              return;
            }
            this.lastEventId = event.lastEventId;
            if (live) this.handlers.onEvent(event);
          },
        },
        this.lastEventId,
      );
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
      }
      throw new Error('the stream ended');
    } catch (error) {
      failure = error;
    } finally {
      this.clearWatchdog();
      controller.abort();
    }
    if (this.closed) return;
    this.handlers.onDown({ unsupported, refused, error: refused ?? failure });
    const delay =
      unsupported || refused
        ? this.settings.unsupportedRetryMs
        : backoffMs({
            attempt: this.attempt++,
            baseMs: this.settings.reconnectBaseMs,
            capMs: this.settings.reconnectMaxMs,
          });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.start();
    }, delay);
    unrefTimer(this.timer);
  }

  private armWatchdog(ms: number): void {
    this.clearWatchdog();
    const controller = this.controller;
    this.watchdog = setTimeout(() => controller?.abort(), ms);
    unrefTimer(this.watchdog);
  }

  private clearWatchdog(): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = null;
  }
}

/** The error a `revoked` event stands for: what a reconnect with the credential would answer. */
function revokedError(data: string): KeymasterError {
  let parsed: { code?: unknown; detail?: unknown } = {};
  try {
    parsed = JSON.parse(data) as typeof parsed;
  } catch {
    // Still revoked, for a reason it did not say.
  }
  return new KeymasterError({
    message: `GET /v1/stream was ended: ${typeof parsed.detail === 'string' ? parsed.detail : 'the credential no longer holds'}`,
    status: 401,
    code: typeof parsed.code === 'string' ? parsed.code : 'unauthenticated',
  });
}

function heartbeatOf(data: string): number | null {
  try {
    const parsed = JSON.parse(data) as { heartbeat_ms?: unknown };
    return typeof parsed.heartbeat_ms === 'number' && parsed.heartbeat_ms > 0 ? parsed.heartbeat_ms : null;
  } catch {
    return null;
  }
}
