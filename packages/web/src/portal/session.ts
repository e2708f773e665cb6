import type { PortalSession } from '@keymaster/contract';
import { ApiError, createApi } from '../api/client';

/**
 * The portal's session in this tab. The session itself is the HttpOnly `km_portal` cookie; the
 * tab keeps what the page needs besides it in sessionStorage, so a reload works: the CSRF token
 * every change sends, and the app's return URL (to offer it once the session has ended).
 */
interface Remembered {
  csrf_token?: string;
  return_url?: string | null;
}

const storageKey = 'keymaster.portal';

export function remembered(): Remembered {
  try {
    return (JSON.parse(sessionStorage.getItem(storageKey) ?? '{}') as Remembered | null) ?? {};
  } catch {
    return {};
  }
}

export function remember(patch: Remembered): void {
  try {
    sessionStorage.setItem(storageKey, JSON.stringify({ ...remembered(), ...patch }));
  } catch {
    // Storage refused (a private mode): the page still works until it is reloaded.
  }
}

/** Forgets the CSRF token of an ended session (the return URL stays, for the expired page). */
export function forgetSession(): void {
  const { return_url } = remembered();
  remember({ csrf_token: undefined, return_url: return_url ?? null });
}

export type SessionStart =
  /** A session is open (just now from the link, or earlier in this tab: the cookie decides). */
  | { ok: true }
  /** The link in the address was refused: expired, garbled or revoked. */
  | { ok: false; expired: true }
  /** The server could not be asked; the link stays in the address, so a reload tries again. */
  | { ok: false; expired: false; error: unknown };

let starting: Promise<SessionStart> | null = null;

/**
 * Opens the session from a portal link: `/portal#<token>` is exchanged for the cookie
 * (`POST /v1/portal/session`) and the token leaves the address bar (and the history). Without a
 * token in the address, the cookie of an earlier exchange is the session, if there is one.
 * Runs once per page load, however often it is asked.
 */
export function startSession(): Promise<SessionStart> {
  starting ??= exchange();
  return starting;
}

async function exchange(): Promise<SessionStart> {
  const token = decodeURIComponent(window.location.hash.slice(1)).trim();
  if (!token) {
    // A tab opened on the portal by itself has the cookie but not the CSRF token: ask for it.
    if (!remembered().csrf_token) {
      try {
        remember({ csrf_token: (await createApi().get<PortalSession>('/v1/portal/session')).csrf_token });
      } catch {
        // No session (the page shows the expired notice when its view is refused).
      }
    }
    return { ok: true };
  }
  const dropToken = () =>
    window.history.replaceState(window.history.state, '', window.location.pathname + window.location.search);
  try {
    const session = await createApi().post<PortalSession>('/v1/portal/session', { token });
    // A new link: whatever an earlier session of this tab left is replaced.
    remember({ csrf_token: session.csrf_token, return_url: null });
    dropToken();
    return { ok: true };
  } catch (error) {
    if (error instanceof ApiError && error.status < 500) {
      dropToken();
      forgetSession();
      return { ok: false, expired: true };
    }
    return { ok: false, expired: false, error };
  }
}
