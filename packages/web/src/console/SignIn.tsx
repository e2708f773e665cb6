import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { Field, FormError, fieldError } from '../ui/forms';
import { type ConsoleSession, sessionKey, useApi } from './session';

/** The sign-in form (labels and button as SPEC.md names them): email and password for a session cookie. */
export function SignIn(): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
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
      </div>
    </main>
  );
}
