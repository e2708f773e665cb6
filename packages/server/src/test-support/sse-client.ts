/** One server-sent event as a client sees it (comments are counted, not kept). */
export interface SseEvent {
  event: string;
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
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          settle(true);
          break;
        }
        buffer += value;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) stream.comments++;
            const colon = line.indexOf(':');
            if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
          }
          const data = fields.get('data');
          if (data !== undefined) {
            events.push({ event: fields.get('event') ?? 'message', id: fields.get('id'), data: JSON.parse(data) });
          }
        }
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
