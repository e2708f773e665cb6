import { KeymasterError } from './errors.js';

/** The fetch the SDK uses: the global one unless another is injected (tests, proxies, polyfills). */
export type Fetch = typeof fetch;

export interface HttpSettings {
  baseUrl: string;
  /** A secret key or a customer token, sent as `Authorization: Bearer …`. */
  credential: string;
  fetch: Fetch;
  timeoutMs: number;
}

/**
 * One JSON request. Answers the parsed body, or throws a KeymasterError: with the problem's
 * code for a 4xx/5xx, `network_error` or `timeout` when no answer came.
 */
export async function requestJson<T>(
  settings: HttpSettings,
  input: { method: 'GET' | 'POST'; path: string; body?: unknown; signal?: AbortSignal },
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), settings.timeoutMs);
  const { signal, unlink } = linked(controller.signal, input.signal);
  try {
    const headers: Record<string, string> = {
      authorization: `Bearer ${settings.credential}`,
      accept: 'application/json',
    };
    if (input.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await settings.fetch(`${settings.baseUrl}${input.path}`, {
        method: input.method,
        headers,
        body: input.body === undefined ? null : JSON.stringify(input.body),
        signal,
      });
    } catch (cause) {
      const timedOut = controller.signal.aborted && !input.signal?.aborted;
      throw new KeymasterError({
        message: timedOut
          ? `${input.method} ${input.path}: no answer within ${settings.timeoutMs} ms`
          : `${input.method} ${input.path}: ${(cause as Error)?.message ?? 'network error'}`,
        status: 0,
        code: timedOut ? 'timeout' : 'network_error',
        cause,
      });
    }
    // The body is read before the timer is cleared: a server that stalls mid-body times out too.
    const text = await response.text().catch((cause: unknown) => {
      throw new KeymasterError({
        message: `${input.method} ${input.path}: the answer was cut off`,
        status: 0,
        code: controller.signal.aborted && !input.signal?.aborted ? 'timeout' : 'network_error',
        cause,
      });
    });
    if (!response.ok) throw problemError({ response, text, method: input.method, path: input.path });
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new KeymasterError({
        message: `${input.method} ${input.path}: the answer is not JSON`,
        status: response.status,
        code: 'invalid_response',
        cause,
      });
    }
  } finally {
    clearTimeout(timer);
    unlink();
  }
}

/**
 * A signal that aborts with either: the request's own (its timeout) or the client's (close).
 * `AbortSignal.any` holds no listener on the long-lived client signal; one listener per request
 * would, with many requests in flight, trip Node's MaxListenersExceededWarning for nothing.
 */
function linked(own: AbortSignal, outer: AbortSignal | undefined): { signal: AbortSignal; unlink: () => void } {
  if (!outer) return { signal: own, unlink: () => undefined };
  if (typeof AbortSignal.any === 'function') return { signal: AbortSignal.any([own, outer]), unlink: () => undefined };
  // Older browsers: forward the client's abort by hand, and stop when the request ends.
  const controller = new AbortController();
  const forward = () => controller.abort();
  own.addEventListener('abort', forward);
  outer.addEventListener('abort', forward);
  return {
    signal: controller.signal,
    unlink: () => {
      own.removeEventListener('abort', forward);
      outer.removeEventListener('abort', forward);
    },
  };
}

/** The KeymasterError for a 4xx or 5xx answer, from its problem document when it has one. */
export function problemError(input: {
  response: Response;
  text: string;
  method: string;
  path: string;
}): KeymasterError {
  let problem: { code?: unknown; detail?: unknown; request_id?: unknown } = {};
  try {
    problem = JSON.parse(input.text) as typeof problem;
  } catch {
    // A proxy's HTML error page: keep the status, invent nothing else.
  }
  const status = input.response.status;
  return new KeymasterError({
    message: `${input.method} ${input.path} answered ${status}: ${typeof problem.detail === 'string' ? problem.detail : input.response.statusText}`,
    status,
    code: typeof problem.code === 'string' ? problem.code : status >= 500 ? 'internal' : 'http_error',
    requestId: typeof problem.request_id === 'string' ? problem.request_id : input.response.headers.get('x-request-id'),
  });
}

/** Full-jitter exponential backoff: a random delay in [0, min(cap, base × 2^attempt)]. */
export function backoffMs(input: { attempt: number; baseMs: number; capMs: number }): number {
  return Math.random() * Math.min(input.capMs, input.baseMs * 2 ** input.attempt);
}

/** A timer that does not keep a Node process alive on its own (no-op in browsers). */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  (timer as unknown as { unref?: () => void }).unref?.();
}
