import { useMutation } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { Link } from 'react-router';
import { createApi } from '../api/client';
import { Field, FormError, fieldError } from '../ui/forms';

/**
 * The pages one-time links open: accept an invitation, reset a password, create the first owner.
 * The token is the link's fragment (`#…`), which browsers never send to a server or in a Referer.
 */
type LinkKind = 'invitation' | 'password_reset' | 'setup';

const pages: Record<LinkKind, { title: string; path: string; button: string; done: string; status: number }> = {
  invitation: {
    title: 'Join Keymaster',
    path: '/v1/invitations/accept',
    button: 'Create my account',
    done: 'Your account is ready.',
    status: 201,
  },
  password_reset: {
    title: 'Choose a new password',
    path: '/v1/password-resets/accept',
    button: 'Set password',
    done: 'Your password is changed, and every other session of yours has ended.',
    status: 200,
  },
  setup: {
    title: 'Set up Keymaster',
    path: '/v1/setup',
    button: 'Create the owner',
    done: 'The owner account is ready.',
    status: 201,
  },
};

const api = createApi();

export function LinkPage(props: { kind: LinkKind }): ReactElement {
  const page = pages[props.kind];
  const [token] = useState(() => decodeURIComponent(window.location.hash.slice(1)));
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [repeat, setRepeat] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const submit = useMutation({
    mutationFn: () =>
      api.post(page.path, {
        token,
        password,
        ...(props.kind === 'setup' ? { email } : {}),
        ...(props.kind !== 'password_reset' && name ? { name } : {}),
      }),
  });
  if (!token) {
    return (
      <main className="center-card">
        <div className="panel">
          <h1>{page.title}</h1>
          <p className="alert error">This link is incomplete: open the whole link you were given.</p>
        </div>
      </main>
    );
  }
  return (
    <main className="center-card">
      <div className="panel">
        <h1>{page.title}</h1>
        {submit.isSuccess ? (
          <div className="alert ok" role="status">
            {page.done} <Link to="/">Sign in</Link>
          </div>
        ) : (
          <form
            onSubmit={(event) => {
              event.preventDefault();
              const differs = password !== repeat;
              setMismatch(differs);
              if (!differs) submit.mutate();
            }}
          >
            {props.kind === 'setup' ? (
              <Field label="Email" error={fieldError(submit.error, '/email')}>
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
            ) : null}
            {props.kind !== 'password_reset' ? (
              <Field label="Name" error={fieldError(submit.error, '/name')} hint="Optional: shown in the audit log.">
                {(control) => (
                  <input {...control} autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
                )}
              </Field>
            ) : null}
            <Field label="Password" error={fieldError(submit.error, '/password')} hint="At least 8 characters.">
              {(control) => (
                <input
                  {...control}
                  type="password"
                  autoComplete="new-password"
                  required
                  value={password}
                  onChange={(e) => setPassword(e.target.value)}
                />
              )}
            </Field>
            <Field label="Repeat password" error={mismatch ? 'The two passwords differ.' : undefined}>
              {(control) => (
                <input
                  {...control}
                  type="password"
                  autoComplete="new-password"
                  required
                  value={repeat}
                  onChange={(e) => setRepeat(e.target.value)}
                />
              )}
            </Field>
            <FormError error={submit.error} shown={['/email', '/name', '/password']} />
            <button type="submit" className="primary" disabled={submit.isPending}>
              {page.button}
            </button>
          </form>
        )}
      </div>
    </main>
  );
}
