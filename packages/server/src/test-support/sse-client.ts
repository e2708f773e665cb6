import { SseParser } from '@keymaster/sdk';

/** One server-sent event as a client sees it (comments are counted, not kept). */
export interface SseEvent {
  event: string;
  /**
   * The stream's last event id as a browser's EventSource reports it: an event that sets none
   * (`revoked`) carries the one before it; undefined until some event has set one.
   */
  id: string | undefined;
  data: unknown;
}

/** A `GET /v1/stream` read over a real socket, for tests. */
export interface SseStream {
  status: number;
  headers: Headers;
  /** Every event so far, in order. */
  events: SseEvent[];
  /** Heartbeat comments so far. */
  comments: number;
  /** The next event (after those already returned by `next`) that matches, waiting up to `timeoutMs`. */
  next(match?: (event: SseEvent) => boolean, timeoutMs?: number): Promise<SseEvent>;
  /** The body of a non-200 answer. */
  body: string;
  /** Settles when the server ends the stream (or `close` aborts it); `true` when the server ended it. */
  ended: Promise<boolean>;
  close(): void;
}

/** Opens a stream; resolves once the headers (and, for a 200, the `ready` event) have arrived. */
export async function openSse(input: { url: string; headers?: Record<string, string> }): Promise<SseStream> {
  const abort = new AbortController();
  const response = await fetch(input.url, {
    headers: { accept: 'text/event-stream', ...input.headers },
    signal: abort.signal,
  });
  const events: SseEvent[] = [];
  let read = 0;
  const waiters = new Set<() => void>();
  let settle: (byServer: boolean) => void = () => undefined;
  const ended = new Promise<boolean>((resolve) => {
    settle = resolve;
  });
  const stream: SseStream = {
    status: response.status,
    headers: response.headers,
    events,
    comments: 0,
    body: '',
    ended,
    close: () => abort.abort(),
    async next(match = () => true, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (read < events.length) {
          const event = events[read++]!;
          if (match(event)) return event;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            waiters.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, left);
          waiters.add(wake);
        });
      }
    },
  };
  if (response.status !== 200 || !response.body) {
    stream.body = await response.text();
    settle(true);
    return stream;
  }
  // The SDK's parser, spec-correct (any line end, chunks split anywhere): what the tests read is
  // what a client reads.
  const parser = new SseParser({
    onEvent: ({ event, data, lastEventId }) => {
      events.push({ event, id: lastEventId === '' ? undefined : lastEventId, data: JSON.parse(data) });
    },
    onComment: () => {
      stream.comments++;
    },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          settle(true);
          break;
        }
        parser.push(value);
        for (const wake of [...waiters]) wake();
      }
    } catch {
      // aborted by close()
      settle(false);
    }
  })();
  await stream.next((event) => event.event === 'ready');
  return stream;
}
