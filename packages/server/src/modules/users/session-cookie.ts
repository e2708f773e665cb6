/** The console session's cookie (see modules/users/service.ts). */
export const sessionCookieName = 'km_session';

/**
 * The `Set-Cookie` value for a session token: HttpOnly (no script reads it), Secure (browsers
 * send it over HTTPS, and to http://localhost), SameSite=Lax (not on cross-site requests that
 * change something), for the whole origin. An empty token with `maxAgeMs` 0 clears it.
 */
export function sessionCookie(token: string, maxAgeMs: number): string {
  const maxAge = Math.max(0, Math.floor(maxAgeMs / 1000));
  return `${sessionCookieName}=${token}; Path=/; Max-Age=${maxAge}; HttpOnly; Secure; SameSite=Lax`;
}

/** The session token a `Cookie` header carries, if any. */
export function sessionTokenOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === sessionCookieName) {
      const value = part.slice(eq + 1).trim();
      return value.startsWith('km_ses_') ? value : undefined;
    }
  }
  return undefined;
}
