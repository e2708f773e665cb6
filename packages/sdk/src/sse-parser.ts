/** One server-sent event, as dispatched by the parser. */
export interface SseEvent {
  /** `message` when the event named none. */
  event: string;
  data: string;
  /** The last event id seen on the stream (it carries over events that set none). */
  lastEventId: string;
}

/**
 * An incremental `text/event-stream` parser following the WHATWG rules: lines end in CRLF, LF or
 * CR (also split across chunks); `:` starts a comment; `data` lines join with `\n`; `id` with a
 * NUL is ignored; `retry` takes digits only; a blank line dispatches; an event without data is
 * dropped; an unfinished event at the end of the stream is dropped.
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private eventName = '';
  private lastId = '';
  /** The previous chunk ended in CR: a LF starting the next one belongs to that line end. */
  private pendingCr = false;

  constructor(
    private readonly handlers: {
      onEvent: (event: SseEvent) => void;
      onRetry?: (ms: number) => void;
      /** A comment line's text (heartbeats are comments), without the `:` and one space after it. */
      onComment?: (comment: string) => void;
      /** Comments and anything else that proves the stream alive. */
      onActivity?: () => void;
    },
    lastEventId = '',
  ) {
    this.lastId = lastEventId;
  }

  get lastEventId(): string {
    return this.lastId;
  }

  push(chunk: string): void {
    if (chunk.length === 0) return;
    this.handlers.onActivity?.();
    let text = chunk;
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    this.pendingCr = false;
    this.buffer += text;
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer.slice(start, i));
      if (c === 13) {
        if (i + 1 < this.buffer.length) {
          if (this.buffer.charCodeAt(i + 1) === 10) i++;
        } else this.pendingCr = true;
      }
      start = i + 1;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) {
      this.handlers.onComment?.(line.startsWith(': ') ? line.slice(2) : line.slice(1));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.eventName = value;
    else if (field === 'id') {
      if (!value.includes('\u0000')) this.lastId = value;
    } else if (field === 'retry') {
      if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
    }
  }

  private dispatch(): void {
    const data = this.data;
    const event = this.eventName || 'message';
    this.data = [];
    this.eventName = '';
    if (data.length === 0) return;
    this.handlers.onEvent({ event, data: data.join('\n'), lastEventId: this.lastId });
  }
}
