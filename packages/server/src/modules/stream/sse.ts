/**
 * Server-sent events framing (WHATWG HTML, "Server-sent events"). Written by hand rather than
 * with a plugin: the format is four field names and a blank line, and the stream needs control
 * that plugins hide — backpressure, coalescing while a client is slow, and closing every
 * connection before the server stops. Payloads are single-line JSON, so no `data:` splitting.
 */
export function sseEvent(input: { event: string; id?: number; data: unknown }): string {
  // Without an id the client keeps the last one it had (its resume point).
  const id = input.id === undefined ? '' : `id: ${input.id}\n`;
  return `event: ${input.event}\n${id}data: ${JSON.stringify(input.data)}\n\n`;
}

/** A comment line: ignored by clients, but it keeps proxies and load balancers from timing out. */
export const sseHeartbeat = ': keepalive\n\n';

/** How long a client waits before reconnecting after the connection drops. */
export function sseRetry(ms: number): string {
  return `retry: ${ms}\n\n`;
}
