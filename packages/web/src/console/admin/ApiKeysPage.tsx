import type { ApiKey, ApiKeyCreated, ApiKeyScope } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { segment } from '../../api/client';
import { ConfirmDialog, FormDialog } from '../../ui/dialogs';
import { formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, FieldGroup, FormError, fieldError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useApi, useSession } from '../session';
import { CopyField } from './CopyField';

const keysKey = ['admin', 'api-keys'] as const;

/** Every scope a key may be given, as the API lists them, with what each opens. */
const scopes = [
  ['admin', 'Everything, including keys, users and integrations'],
  ['catalog:read', 'Read features and plans'],
  ['catalog:write', 'Create and change features and plans'],
  ['customers:read', 'Read customers, subscriptions, grants and their usage'],
  ['customers:write', 'Change customers, subscriptions, grants and contracts'],
  ['check', 'Checks, entitlements, the stream, OFREP and customer tokens'],
  ['usage:read', 'Read usage and reservations'],
  ['usage:write', 'Send events, consume, reserve and set gauges'],
  ['reports:read', 'Run reports'],
  ['reports:write', 'Run and store reports'],
  ['audit:read', 'Read and verify the audit trail and decisions'],
  ['webhooks:read', 'Read webhook endpoints, deliveries and alert rules'],
  ['webhooks:write', 'Manage webhook endpoints and alert rules'],
  ['metrics:read', 'Scrape Prometheus metrics'],
] as const satisfies readonly (readonly [ApiKeyScope, string])[];

// A scope the contract adds and this list lacks fails the typecheck here, not silently in the form.
type Missing = Exclude<ApiKeyScope, (typeof scopes)[number][0]>;
const everyScopeListed: [Missing] extends [never] ? true : Missing = true;
void everyScopeListed;

/** How long a rolled key's old secret keeps working, as offered. */
const overlaps = [
  ['0', 'Stop it now'],
  ['3600000', '1 hour'],
  ['86400000', '24 hours'],
  ['604800000', '7 days'],
] as const;

function keyStatus(key: ApiKey): ReactElement {
  if (key.revoked_at) return <span className="badge danger">Revoked {formatDateTime(key.revoked_at)}</span>;
  if (key.expires_at && Date.parse(key.expires_at) <= Date.now()) {
    return <span className="badge danger">Expired {formatDateTime(key.expires_at)}</span>;
  }
  if (key.expires_at) return <span className="badge warn">Expires {formatDateTime(key.expires_at)}</span>;
  return <span className="badge ok">Active</span>;
}

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
            description="A key may do what its scopes allow; give it only what its job needs."
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
                <th scope="col">Scopes</th>
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
                  <td>
                    {key.scopes.map((scope) => (
                      <code key={scope} className="scope">
                        {scope}
                      </code>
                    ))}
                  </td>
                  <td>{formatDateTime(key.created_at)}</td>
                  <td>{key.last_used_at ? formatDateTime(key.last_used_at) : <span className="muted">never</span>}</td>
                  <td>{keyStatus(key)}</td>
                  {writable ? (
                    <td>
                      {key.revoked_at ? null : (
                        <div className="row">
                          {/* Kept mounted once rolled "now": its dialog is still showing the new secret. */}
                          <RollKey apiKey={key} />
                          <RevokeKey apiKey={key} />
                        </div>
                      )}
                    </td>
                  ) : null}
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
  const [chosen, setChosen] = useState<ApiKeyScope[]>([]);
  const [expires, setExpires] = useState('');
  const create = useMutation({
    mutationFn: () =>
      api.post<ApiKeyCreated>('/v1/api-keys', {
        ...(name.trim() ? { name: name.trim() } : {}),
        scopes: chosen,
        ...(expires ? { expires_at: new Date(expires).toISOString() } : {}),
      }),
    onSuccess: () => queries.invalidateQueries({ queryKey: keysKey }),
  });
  if (create.data) return <NewSecret apiKey={create.data} close={props.close} />;
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
      <ScopesField value={chosen} onChange={setChosen} error={fieldError(create.error, '/scopes')} />
      <Field
        label="Expires"
        error={fieldError(create.error, '/expires_at')}
        hint="Optional: when the key stops working (your local time)."
      >
        {(control) => (
          <input {...control} type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />
        )}
      </Field>
      <FormError error={create.error} shown={['/name', '/scopes', '/expires_at']} />
      <div className="actions">
        <button type="button" onClick={props.close}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={create.isPending || chosen.length === 0}>
          Create key
        </button>
      </div>
    </form>
  );
}

/** A new secret, shown this once with a way to copy it. */
function NewSecret(props: { apiKey: ApiKeyCreated; close: () => void }): ReactElement {
  const key = props.apiKey;
  return (
    <>
      <div className="alert info" role="alert">
        <strong>Copy the secret now: it will not be shown again.</strong> Keymaster keeps only its hash. If it is lost,
        roll or revoke the key.
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

/** The scopes of a new key: a group of checkboxes under one legend, with the API's error for `/scopes`. */
function ScopesField(props: {
  value: ApiKeyScope[];
  onChange: (value: ApiKeyScope[]) => void;
  error?: string | undefined;
}): ReactElement {
  const { value, onChange } = props;
  return (
    <FieldGroup legend="Scopes" error={props.error}>
      {scopes.map(([scope, what]) => (
        <label key={scope} className="row small">
          <input
            type="checkbox"
            checked={value.includes(scope)}
            onChange={(e) => onChange(e.target.checked ? [...value, scope] : value.filter((s) => s !== scope))}
          />
          <code>{scope}</code> <span className="muted">{what}</span>
        </label>
      ))}
    </FieldGroup>
  );
}

/** Roll: a new secret for the same key, the old one working for a while so clients can move. */
function RollKey(props: { apiKey: ApiKey }): ReactElement {
  const { apiKey } = props;
  const expired = apiKey.expires_at !== null && Date.parse(apiKey.expires_at) <= Date.now();
  return (
    <FormDialog
      trigger={
        <button type="button" aria-label={`Roll ${apiKey.name ?? apiKey.prefix}`} disabled={expired}>
          Roll
        </button>
      }
      title="Roll this API key"
      description="A new secret with the same name and scopes. The old secret keeps working for the time you choose, so every client can move to the new one."
    >
      {(close) => <RollForm apiKey={apiKey} close={close} />}
    </FormDialog>
  );
}

function RollForm(props: { apiKey: ApiKey; close: () => void }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const [overlap, setOverlap] = useState<string>('3600000');
  const roll = useMutation({
    mutationFn: () =>
      api.post<ApiKeyCreated>(`/v1/api-keys/${segment(props.apiKey.id)}/roll`, {
        previous_expires_at: new Date(Date.now() + Number(overlap)).toISOString(),
      }),
    onSuccess: () => queries.invalidateQueries({ queryKey: keysKey }),
  });
  if (roll.data) return <NewSecret apiKey={roll.data} close={props.close} />;
  return (
    <form
      onSubmit={(event) => {
        event.preventDefault();
        roll.mutate();
      }}
    >
      <Field label="Old secret keeps working" error={fieldError(roll.error, '/previous_expires_at')}>
        {(control) => (
          <select {...control} value={overlap} onChange={(e) => setOverlap(e.target.value)}>
            {overlaps.map(([ms, label]) => (
              <option key={ms} value={ms}>
                {label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <FormError error={roll.error} shown={['/previous_expires_at']} />
      <div className="actions">
        <button type="button" onClick={props.close}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={roll.isPending}>
          Roll key
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
