/**
 * The console's and the portal's one way to the API: `fetch` on the same origin with the
 * session cookie, the session's CSRF token on every change, and failures as `ApiError`s
 * carrying the problem document (RFC 9457) the server answered, field errors included.
 */

/** One entry of a problem's `errors[]`: a JSON pointer into the request body and what is wrong there. */
export interface FieldError {
  path: string;
  message: string;
}

export interface Problem {
  status: number;
  code: string;
  title?: string;
  detail?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly errors: readonly FieldError[];

  constructor(problem: Problem) {
    super(problem.detail ?? problem.title ?? `The server answered ${problem.status}.`);
    this.name = 'ApiError';
    this.status = problem.status;
    this.code = problem.code;
    this.errors = problem.errors ?? [];
  }

  /** The message for a form field (`/name`, `/limits/0/value`), if the server named it. */
  fieldError(path: string): string | undefined {
    return this.errors.find((error) => error.path === path)?.message;
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface ApiOptions {
  /** The CSRF token of the session, sent as `X-CSRF-Token` on every request that changes something. */
  csrfToken?: () => string | undefined;
  /** Called when the server answers 401: the session has ended (expired or signed out elsewhere). */
  onUnauthenticated?: () => void;
}

export interface Api {
  get<T>(path: string, query?: Query): Promise<T>;
  post<T>(path: string, body?: unknown, query?: Query): Promise<T>;
  put<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body?: unknown): Promise<T>;
  delete<T = void>(path: string, body?: unknown): Promise<T>;
  /** A raw request, for downloads (CSV) and answers that are not JSON. */
  raw(path: string, init?: RequestInit & { query?: Query }): Promise<Response>;
}

/** `path` with `query` appended; entries that are undefined, null or '' are left out. */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** A path segment from a value (an id or key), escaped: `/v1/customers/${segment(id)}`. */
export const segment = (value: string): string => encodeURIComponent(value);

export function createApi(options: ApiOptions = {}): Api {
  async function raw(path: string, init: RequestInit & { query?: Query } = {}): Promise<Response> {
    const { query, ...rest } = init;
    const method = (rest.method ?? 'GET').toUpperCase();
    const headers = new Headers(rest.headers);
    if (method !== 'GET' && method !== 'HEAD') {
      const csrf = options.csrfToken?.();
      if (csrf) headers.set('x-csrf-token', csrf);
    }
    const response = await fetch(withQuery(path, query), { ...rest, method, headers, credentials: 'same-origin' });
    if (response.status === 401) options.onUnauthenticated?.();
    if (!response.ok) throw new ApiError(await problemOf(response));
    return response;
  }

  async function send<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const init: RequestInit & { query?: Query } = { method, query };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const response = await raw(path, init);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  return {
    get: (path, query) => send('GET', path, undefined, query),
    post: (path, body, query) => send('POST', path, body ?? {}, query),
    put: (path, body) => send('PUT', path, body ?? {}),
    patch: (path, body) => send('PATCH', path, body ?? {}),
    delete: (path, body) => send('DELETE', path, body),
    raw,
  };
}

async function problemOf(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as Partial<Problem>;
    if (typeof body.code === 'string') return { ...body, status: response.status, code: body.code };
  } catch {
    // Not a problem document (a proxy's error page): described by its status below.
  }
  return {
    status: response.status,
    code: 'unexpected_response',
    detail: `The server answered ${response.status} ${response.statusText}.`,
  };
}

/** A page of a list route: `data` and the cursor of the next page (null on the last). */
export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}
