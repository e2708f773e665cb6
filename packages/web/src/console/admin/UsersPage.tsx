import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useId, useState } from 'react';
import { ApiError, segment } from '../../api/client';
import { ConfirmDialog, FormDialog } from '../../ui/dialogs';
import { formatDate } from '../../ui/format';
import { ErrorAlert, Field, FormError, fieldError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { type ConsoleUser, type Role, sessionKey, useApi, useSession } from '../session';
import { LinkResult, type OneTimeLink } from './one-time-link';

const usersKey = ['admin', 'users'] as const;

/** The roles, as docs/console.md describes them. */
const roles: readonly { role: Role; may: string }[] = [
  { role: 'owner', may: 'everything, and the only role that makes, changes or removes owners' },
  { role: 'admin', may: 'everything but owners: the catalog, customers, reports, webhooks, API keys and users' },
  { role: 'support', may: 'change customers, subscriptions, grants and tokens; read the catalog and usage' },
  { role: 'finance', may: 'reports and the audit trail; read what support reads' },
  { role: 'viewer', may: 'read the catalog, customers, usage, webhooks and alert rules' },
];

/** The roles the signed-in user may hand out: only an owner makes an owner. */
function assignableRoles(myRole: Role | undefined): Role[] {
  return roles.map((entry) => entry.role).filter((role) => role !== 'owner' || myRole === 'owner');
}

/** `/users`: the console's users and their roles; invite, change a role, make a reset link, remove. */
export function UsersPage(): ReactElement {
  const { can, session } = useSession();
  const users = useCursorList<ConsoleUser>({ key: usersKey, path: '/v1/users' });
  const writable = can('admin:write');
  const myRole = session?.user.role;
  return (
    <>
      <div className="spread">
        <h1>Users</h1>
        {writable ? (
          <FormDialog
            trigger={
              <button type="button" className="primary">
                Invite user
              </button>
            }
            title="Invite a user"
            description="The invitation is a one-time link, good for 7 days, with which the person sets their password."
          >
            {(close) => <InviteUser close={close} myRole={myRole} />}
          </FormDialog>
        ) : null}
      </div>
      <p className="muted">
        The people who sign in to this console. Invited people appear here once they have accepted their invitation.
      </p>
      {users.isPending ? (
        <Loading what="users" />
      ) : users.isError ? (
        <ErrorAlert error={users.error} />
      ) : (
        <>
          <table>
            <caption>Console users</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Added</th>
                {writable ? (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {users.rows.map((user) => {
                const mine = user.id === session?.user.id;
                // Only an owner changes an owner, so an admin gets no control on an owner's row.
                const manageable = writable && (user.role !== 'owner' || myRole === 'owner');
                return (
                  <tr key={user.id}>
                    <td>
                      {user.name ?? <span className="muted">—</span>}
                      {mine ? <span className="muted small"> (you)</span> : null}
                    </td>
                    <td>{user.email}</td>
                    <td>
                      {manageable ? (
                        <RoleControl user={user} mine={mine} myRole={myRole} />
                      ) : (
                        <span className="badge">{user.role}</span>
                      )}
                    </td>
                    <td>{formatDate(user.created_at)}</td>
                    {writable ? (
                      <td>
                        {manageable ? (
                          <div className="row">
                            <PasswordResetLink user={user} />
                            <RemoveUser user={user} mine={mine} />
                          </div>
                        ) : (
                          <span className="small muted">Only an owner changes an owner.</span>
                        )}
                      </td>
                    ) : null}
                  </tr>
                );
              })}
            </tbody>
          </table>
          <ShowMore list={users} />
        </>
      )}
      <section className="panel" aria-labelledby="roles-heading" style={{ marginTop: '1.5rem' }}>
        <h2 id="roles-heading" style={{ marginTop: 0 }}>
          Roles
        </h2>
        <ul className="small">
          {roles.map((entry) => (
            <li key={entry.role}>
              <strong>{entry.role}</strong>: {entry.may}
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}

/** A user's role: pick another and save it (PATCH); the server's refusal shows next to it. */
function RoleControl(props: { user: ConsoleUser; mine: boolean; myRole: Role | undefined }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const errorId = useId();
  const { user } = props;
  const [draft, setDraft] = useState<Role | null>(null);
  const role = draft ?? user.role;
  const save = useMutation({
    mutationFn: (next: Role) => api.patch<ConsoleUser>(`/v1/users/${segment(user.id)}`, { role: next }),
    onSuccess: async () => {
      setDraft(null);
      await queries.invalidateQueries({ queryKey: usersKey });
      // A change of one's own role changes what the console offers.
      if (props.mine) await queries.invalidateQueries({ queryKey: sessionKey });
    },
  });
  const options = assignableRoles(props.myRole);
  const message = save.error ? (save.error instanceof ApiError ? save.error.message : String(save.error)) : undefined;
  const pointed = fieldError(save.error, '/role');
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        save.mutate(role);
      }}
    >
      <div className="row">
        <select
          aria-label={`Role of ${user.email}`}
          aria-invalid={message !== undefined}
          {...(message ? { 'aria-describedby': errorId } : {})}
          value={role}
          onChange={(event) => {
            setDraft(event.target.value as Role);
            save.reset();
          }}
        >
          {(options.includes(user.role) ? options : [user.role, ...options]).map((option) => (
            <option key={option} value={option}>
              {option}
            </option>
          ))}
        </select>
        <button type="submit" disabled={role === user.role || save.isPending}>
          Save role
        </button>
      </div>
      {message ? (
        <div className="form-error" id={errorId} role="alert">
          {message}
          {pointed && pointed !== message ? ` (${pointed})` : null}
        </div>
      ) : save.isSuccess ? (
        <div className="small muted" role="status">
          Saved.
        </div>
      ) : null}
    </form>
  );
}

function InviteUser(props: { close: () => void; myRole: Role | undefined }): ReactElement {
  const api = useApi();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const invite = useMutation({
    mutationFn: () =>
      api.post<OneTimeLink>('/v1/users/invitations', {
        email: email.trim(),
        role,
        ...(name.trim() ? { name: name.trim() } : {}),
      }),
  });
  if (invite.data) {
    return (
      <>
        <LinkResult link={invite.data} label="Invitation link" what="invitation" />
        <p className="small muted">
          They join as <strong>{role}</strong> and appear in the list once they have set their password.
        </p>
        <div className="actions">
          <button type="button" className="primary" onClick={props.close}>
            Done
          </button>
        </div>
      </>
    );
  }
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        invite.mutate();
      }}
    >
      <Field label="Email" error={fieldError(invite.error, '/email')}>
        {(control) => (
          <input
            {...control}
            type="email"
            required
            maxLength={320}
            autoComplete="off"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        )}
      </Field>
      <Field label="Name" error={fieldError(invite.error, '/name')} hint="Optional: they can set it when they accept.">
        {(control) => (
          <input
            {...control}
            maxLength={200}
            autoComplete="off"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        )}
      </Field>
      <Field label="Role" error={fieldError(invite.error, '/role')}>
        {(control) => (
          <select {...control} value={role} onChange={(e) => setRole(e.target.value as Role)}>
            {assignableRoles(props.myRole).map((option) => (
              <option key={option} value={option}>
                {option}
              </option>
            ))}
          </select>
        )}
      </Field>
      <FormError error={invite.error} shown={['/email', '/name', '/role']} />
      <div className="actions">
        <button type="button" onClick={props.close}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={invite.isPending}>
          Create invitation
        </button>
      </div>
    </form>
  );
}

function PasswordResetLink(props: { user: ConsoleUser }): ReactElement {
  const api = useApi();
  const { user } = props;
  return (
    <FormDialog
      trigger={
        <button type="button" aria-label={`Password reset link for ${user.email}`}>
          Password reset link
        </button>
      }
      title="Password reset link"
      description={`A one-time link, good for 1 hour, with which ${user.email} sets a new password; their sessions then end.`}
    >
      {(close) => (
        <ResetLinkForm
          user={user}
          close={close}
          make={() => api.post<OneTimeLink>(`/v1/users/${segment(user.id)}/password-reset`)}
        />
      )}
    </FormDialog>
  );
}

function ResetLinkForm(props: {
  user: ConsoleUser;
  close: () => void;
  make: () => Promise<OneTimeLink>;
}): ReactElement {
  const make = useMutation({ mutationFn: props.make });
  return (
    <>
      {make.data ? <LinkResult link={make.data} label="Password reset link" what="password reset" /> : null}
      <FormError error={make.error} />
      <div className="actions">
        <button type="button" onClick={props.close}>
          {make.data ? 'Done' : 'Cancel'}
        </button>
        {make.data ? null : (
          <button type="button" className="primary" disabled={make.isPending} onClick={() => make.mutate()}>
            Make the link
          </button>
        )}
      </div>
    </>
  );
}

function RemoveUser(props: { user: ConsoleUser; mine: boolean }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const { user } = props;
  return (
    <ConfirmDialog
      trigger={
        <button type="button" aria-label={`Remove ${user.email}`}>
          Remove
        </button>
      }
      title={`Remove ${user.email}?`}
      description={
        <p>
          {props.mine ? 'This is you: you will be signed out. ' : ''}
          Their sessions end at once and they can no longer sign in. To let them back in, invite them again.
        </p>
      }
      confirmLabel="Remove user"
      danger
      onConfirm={async () => {
        await api.delete<ConsoleUser>(`/v1/users/${segment(user.id)}`);
        await queries.invalidateQueries({ queryKey: props.mine ? sessionKey : usersKey });
      }}
    />
  );
}
