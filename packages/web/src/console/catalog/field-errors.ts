import { ApiError } from '../../api/client';

/**
 * The server's messages for a field and everything inside it (`/options` also takes
 * `/options/2`), joined: for a control that edits a whole object or list at once. Paths in
 * `except` are left to the fields that show them.
 */
export function errorsUnder(error: unknown, prefix: string, except: readonly string[] = []): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const messages = error.errors
    .filter((e) => (e.path === prefix || e.path.startsWith(`${prefix}/`)) && !except.includes(e.path))
    .map((e) => (e.path === prefix ? e.message : `${e.path.slice(prefix.length + 1)}: ${e.message}`));
  return messages.length > 0 ? messages.join('; ') : undefined;
}

/** The paths of the error's field errors that the form shows under `prefixes`, for `FormError`'s `shown`. */
export function shownUnder(error: unknown, prefixes: readonly string[]): string[] {
  if (!(error instanceof ApiError)) return [];
  return error.errors
    .map((e) => e.path)
    .filter((path) => prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`)));
}

/** A JSON value from what a person typed: JSON when it parses (`10`, `true`, `{"a":1}`), else the text itself. */
export function looseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The reverse of `looseJson`: a string shown bare unless it would read back as something else. */
export function looseText(value: unknown): string {
  if (typeof value === 'string') return typeof looseJson(value) === 'string' ? value : JSON.stringify(value);
  return JSON.stringify(value);
}
