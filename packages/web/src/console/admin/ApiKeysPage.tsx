import type { ApiKey, ApiKeyCreated } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { segment } from '../../api/client';
import { ConfirmDialog, FormDialog } from '../../ui/dialogs';
import { formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, FormError, fieldError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useApi, useSession } from '../session';
import { CopyField } from './CopyField';

const keysKey = ['admin', 'api-keys'] as const;

/** `/api-keys`: the secret API keys scripts and servers call the API with; create one, revoke one. */
export function ApiKeysPage(): ReactElement {
  const { can } = useSession();
  const keys = useCursorList<ApiKey>({ key: keysKey, path: '/v1/api-keys' });
  const writable = can('admin:write');
  return (
    <>
      <div className="spread">
        <h1>API keys</h1>
        {writable ? (
          <FormDialog
            trigger={
              <button type="button" className="primary">
                Create key
              </button>
            }
            title="Create an API key"
            description="A secret key calls the API with full access: roles do not apply to keys."
          >
            {(close) => <CreateKey close={close} />}
          </FormDialog>
        ) : null}
      </div>
      <p className="muted">
        Secret keys for your servers and scripts (<code>Authorization: Bearer km_sk_…</code>). Keymaster keeps only a
        hash of each secret, so a key is recognised here by its prefix. The key set by <code>KEYMASTER_ADMIN_KEY</code>{' '}
        lives in the server’s environment and is not listed.
      </p>
      {keys.isPending ? (
        <Loading what="API keys" />
      ) : keys.isError ? (
        <ErrorAlert error={keys.error} />
      ) : keys.rows.length === 0 ? (
        <p className="panel muted">No API key has been created.</p>
      ) : (
        <>
          <table>
            <caption>API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Status</th>
                {writable ? (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {keys.rows.map((key) => (
                <tr key={key.id}>
                  <td>{key.name ?? <span className="muted">(no name)</span>}</td>
                  <td>
                    <code>{key.prefix}…</code>
                  </td>
                  <td>{formatDateTime(key.created_at)}</td>
                  <td>{key.last_used_at ? formatDateTime(key.last_used_at) : <span className="muted">never</span>}</td>
                  <td>
                    {key.revoked_at ? (
                      <span className="badge danger">Revoked {formatDateTime(key.revoked_at)}</span>
                    ) : (
                      <span className="badge ok">Active</span>
                    )}
                  </td>
                  {writable ? <td>{key.revoked_at ? null : <RevokeKey apiKey={key} />}</td> : null}
                </tr>
              ))}
            </tbody>
          </table>
          <ShowMore list={keys} />
        </>
      )}
    </>
  );
}

/** The create form, then the new key's secret: shown this once, with a way to copy it. */
function CreateKey(props: { close: () => void }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const [name, setName] = useState('');
  const create = useMutation({
    mutationFn: () => api.post<ApiKeyCreated>('/v1/api-keys', name.trim() ? { name: name.trim() } : {}),
    onSuccess: () => queries.invalidateQueries({ queryKey: keysKey }),
  });
  if (create.data) {
    const key = create.data;
    return (
      <>
        <div className="alert info" role="alert">
          <strong>Copy the secret now: it will not be shown again.</strong> Keymaster keeps only its hash. If it is
          lost, revoke the key and create another.
        </div>
        <CopyField
          label="Secret"
          value={key.secret}
          hint={`Key ${key.name ?? key.prefix}, prefix ${key.prefix}. Send it as Authorization: Bearer <secret>.`}
        />
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
        create.mutate();
      }}
    >
      <Field
        label="Name"
        error={fieldError(create.error, '/name')}
        hint="What the key is for (optional): “billing worker”, “CI”."
      >
        {(control) => <input {...control} maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <FormError error={create.error} shown={['/name']} />
      <div className="actions">
        <button type="button" onClick={props.close}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={create.isPending}>
          Create key
        </button>
      </div>
    </form>
  );
}

function RevokeKey(props: { apiKey: ApiKey }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const { apiKey } = props;
  const label = apiKey.name ? `“${apiKey.name}” (${apiKey.prefix}…)` : `${apiKey.prefix}…`;
  return (
    <ConfirmDialog
      trigger={
        <button type="button" aria-label={`Revoke ${apiKey.name ?? apiKey.prefix}`}>
          Revoke
        </button>
      }
      title="Revoke this API key?"
      description={
        <p>
          Every request with the key {label} will be refused, on every node within a second. This cannot be undone:
          whatever uses it needs a new key.
        </p>
      }
      confirmLabel="Revoke key"
      danger
      onConfirm={async () => {
        await api.delete<ApiKey>(`/v1/api-keys/${segment(apiKey.id)}`);
        await queries.invalidateQueries({ queryKey: keysKey });
      }}
    />
  );
}
