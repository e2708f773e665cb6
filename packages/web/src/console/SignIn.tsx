import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { Field, FormError, fieldError } from '../ui/forms';
import { type ConsoleSession, sessionKey, useApi } from './session';

/** Why a sign-in through the OpenID Connect provider came back without a session (`?sign_in_error=`). */
const providerErrors: Record<string, string> = {
  flow_expired: 'The sign-in took too long or was started in another browser: try again.',
  provider_refused: 'The identity provider did not confirm the sign-in: try again.',
  email_unverified: 'The identity provider has not verified your email address.',
  not_a_user: 'There is no console user with your email address: ask an owner or admin for an invitation.',
};

interface Providers {
  oidc: { name: string; url: string } | null;
}

/**
 * The sign-in form (labels and button as SPEC.md names them): email and password for a session
 * cookie, and "Sign in with <provider>" when an OpenID Connect provider is configured.
 */
export function SignIn(): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const providers = useQuery({
    queryKey: ['sign-in-providers'],
    queryFn: () => api.get<Providers>('/v1/sessions/providers'),
  });
  const [providerError] = useState(() => new URLSearchParams(window.location.search).get('sign_in_error'));
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const signIn = useMutation({
    mutationFn: () => api.post<ConsoleSession>('/v1/sessions', { email, password }),
    onSuccess: () => queries.invalidateQueries({ queryKey: sessionKey }),
  });
  return (
    <main className="center-card">
      <div className="panel">
        <h1>Sign in to Keymaster</h1>
        {providerError ? (
          <div className="alert error" role="alert">
            {providerErrors[providerError] ?? 'The sign-in did not succeed: try again.'}
          </div>
        ) : null}
        <form
          onSubmit={(event) => {
            event.preventDefault();
            signIn.mutate();
          }}
        >
          <Field label="Email" error={fieldError(signIn.error, '/email')}>
            {(control) => (
              <input
                {...control}
                type="email"
                autoComplete="username"
                required
                value={email}
                onChange={(e) => setEmail(e.target.value)}
              />
            )}
          </Field>
          <Field label="Password" error={fieldError(signIn.error, '/password')}>
            {(control) => (
              <input
                {...control}
                type="password"
                autoComplete="current-password"
                required
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            )}
          </Field>
          <FormError error={signIn.error} shown={['/email', '/password']} />
          <button type="submit" className="primary" disabled={signIn.isPending}>
            Sign in
          </button>
        </form>
        {providers.data?.oidc ? (
          <p>
            <a className="button" href={providers.data.oidc.url}>
              Sign in with {providers.data.oidc.name}
            </a>
          </p>
        ) : null}
      </div>
    </main>
  );
}
