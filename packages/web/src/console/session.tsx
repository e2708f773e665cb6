import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, type ReactElement, type ReactNode, useContext, useMemo } from 'react';
import { type Api, ApiError, createApi } from '../api/client';

export type Role = 'owner' | 'admin' | 'support' | 'finance' | 'viewer';

export interface ConsoleUser {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  created_at: string;
}

/** `GET /v1/sessions/current`: who is signed in, their CSRF token and what their role may do. */
export interface ConsoleSession {
  user: ConsoleUser;
  csrf_token: string;
  expires_at: string;
  /** `<area>:read` / `<area>:write`, from the server's one permission table. */
  permissions: string[];
}

export const sessionKey = ['session'] as const;

interface SessionState {
  api: Api;
  session: ConsoleSession | null;
  /** Whether the session's role holds `area:level` (`catalog:write`): what to show, never what is enforced. */
  can(permission: string): boolean;
}

const SessionContext = createContext<SessionState | null>(null);

/** The API, signed in or not, and the current session (null when signed out). */
export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error('useSession outside <SessionProvider>');
  return state;
}

/** The API client of the signed-in console. */
export const useApi = (): Api => useSession().api;

/**
 * Reads the session once and keeps it in TanStack Query's cache. Every API call sends its CSRF
 * token; a 401 from any call (the session expired or was signed out elsewhere) clears it, which
 * shows the sign-in form in place of the page.
 */
export function SessionProvider(props: {
  children: (session: ConsoleSession | null, loading: boolean) => ReactNode;
}): ReactElement {
  const queries = useQueryClient();
  const api = useMemo(
    () =>
      createApi({
        csrfToken: () => queries.getQueryData<ConsoleSession | null>(sessionKey)?.csrf_token,
        onUnauthenticated: () => {
          if (queries.getQueryData(sessionKey)) {
            queries.setQueryData(sessionKey, null);
            // Whatever was on screen belonged to the session that ended.
            queries.removeQueries({ predicate: (query) => query.queryKey[0] !== sessionKey[0] });
          }
        },
      }),
    [queries],
  );
  const current = useQuery({
    queryKey: sessionKey,
    queryFn: async () => {
      try {
        return await api.get<ConsoleSession>('/v1/sessions/current');
      } catch (error) {
        if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return null;
        throw error;
      }
    },
    staleTime: 60_000,
  });
  const session = current.data ?? null;
  const state = useMemo<SessionState>(
    () => ({
      api,
      session,
      can: (permission) => session?.permissions.includes(permission) ?? false,
    }),
    [api, session],
  );
  return <SessionContext.Provider value={state}>{props.children(session, current.isPending)}</SessionContext.Provider>;
}
