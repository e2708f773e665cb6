import type { Authenticator } from '../../http/auth.js';

/** Why a stream was ended: its last event (`revoked`) carries it to the client. */
export interface StreamEnd {
  code: 'api_key_revoked' | 'token_expired' | 'token_revoked' | 'session_ended';
  detail: string;
}

/** Whether a stream's credential still authenticates: null while it does, why not once it does not. */
export type StreamAuthorization = () => Promise<StreamEnd | null>;

const keyRevoked: StreamEnd = {
  code: 'api_key_revoked',
  detail: 'The API key this stream was opened with has been revoked.',
};
const tokenRevoked: StreamEnd = {
  code: 'token_revoked',
  detail: 'The customer this token was issued for no longer exists: ask your backend for a new token.',
};
const tokenExpired: StreamEnd = {
  code: 'token_expired',
  detail: 'The customer token has expired: ask your backend for a new one.',
};

const sessionEnded: StreamEnd = {
  code: 'session_ended',
  detail: 'The console session this stream was opened with has ended (signed out or expired): sign in again.',
};

/** A console session's stream: it lasts while the session (the `km_session` cookie) does. */
export function sessionStreamAuthorization(input: {
  session: (token: string) => Promise<unknown>;
  token: string;
}): StreamAuthorization {
  return async () => ((await input.session(input.token)) === undefined ? sessionEnded : null);
}

/**
 * Re-authenticates the credential a stream was opened with, exactly as a new request with it
 * would be: a revoked key, an expired token or a token whose customer was erased (or re-created)
 * ends the stream. Asking the authenticator again, rather than keeping a copy of its rules here,
 * keeps an open stream to every rule a request is held to.
 */
export function streamAuthorization(input: {
  authenticate: Authenticator;
  credential: string | undefined;
  /** Whether the credential is a customer token (a secret key otherwise). */
  token: boolean;
}): StreamAuthorization {
  const { authenticate, credential, token } = input;
  return async () => {
    const outcome = await authenticate(credential);
    if (!('problem' in outcome)) return null;
    if (!token) return keyRevoked;
    return outcome.problem.code === 'token_expired' ? tokenExpired : tokenRevoked;
  };
}
