import type { Feature, Grant } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactElement, useState } from 'react';
import { segment } from '../../api/client';
import { ConfirmDialog, FormDialog } from '../../ui/dialogs';
import { formatCount, formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, FormError, fieldError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useApi, useSession } from '../session';
import { jsonText } from './parts';
import { customerKeys, customerPath, useFeatures } from './queries';

/** A grant's terms in words: `+500`, `limit 1,000`, `unlimited`, `off`, `value "dedicated"`. */
function terms(grant: Grant): string {
  const parts: string[] = [grant.mode];
  if (grant.enabled === false) parts.push('access off');
  else if (grant.enabled === true) parts.push('access on');
  if (grant.unlimited) parts.push('unlimited');
  else if (grant.limit !== null)
    parts.push(grant.mode === 'override' ? `limit ${formatCount(grant.limit)}` : `+${formatCount(grant.limit)}`);
  if (grant.value !== null && grant.value !== undefined) parts.push(`value ${jsonText(grant.value)}`);
  if (grant.remaining !== null) parts.push(`${formatCount(grant.remaining)} left`);
  return parts.join(', ');
}

function grantState(grant: Grant): { label: string; tone: string } {
  if (grant.revoked_at) return { label: 'revoked', tone: '' };
  if (grant.active) return { label: 'active', tone: 'ok' };
  if (grant.expires_at && Date.parse(grant.expires_at) <= Date.now()) return { label: 'expired', tone: '' };
  return { label: 'not started', tone: 'warn' };
}

/** The customer's grants (per-customer overrides of the plan): list, grant one, revoke one. */
export function GrantsSection(props: { customerId: string }): ReactElement {
  const { customerId } = props;
  const api = useApi();
  const { can } = useSession();
  const queries = useQueryClient();
  const [includeRevoked, setIncludeRevoked] = useState(false);
  const grants = useCursorList<Grant>({
    key: customerKeys.grants(customerId, includeRevoked),
    path: customerPath(customerId, 'grants'),
    query: { limit: 20, include_revoked: includeRevoked },
  });
  const features = useFeatures();
  const write = can('customers:write');
  const rows = grants.data?.pages.flatMap((page) => page.data) ?? [];

  async function revoke(grant: Grant): Promise<void> {
    await api.delete(`/v1/grants/${segment(grant.id)}`);
    await queries.invalidateQueries({ queryKey: customerKeys.of(customerId) });
  }

  return (
    <section className="panel" aria-labelledby="grants-heading">
      <div className="spread">
        <h2 id="grants-heading" style={{ marginTop: 0 }}>
          Grants
        </h2>
        <div className="row">
          <label className="small">
            <input
              type="checkbox"
              checked={includeRevoked}
              onChange={(event) => setIncludeRevoked(event.target.checked)}
            />{' '}
            Show revoked
          </label>
          {write ? <GrantDialog customerId={customerId} features={features.data?.features ?? []} /> : null}
        </div>
      </div>
      {grants.isPending ? (
        <Loading what="grants" />
      ) : grants.isError ? (
        <ErrorAlert error={grants.error} />
      ) : rows.length === 0 ? (
        <p className="muted">No grants: the customer has what their plan gives.</p>
      ) : (
        <>
          <table aria-labelledby="grants-heading">
            <thead>
              <tr>
                <th scope="col">Feature</th>
                <th scope="col">Terms</th>
                <th scope="col">State</th>
                <th scope="col">Expires</th>
                <th scope="col">Reason</th>
                <th scope="col">Created</th>
                {write ? (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {rows.map((grant) => {
                const state = grantState(grant);
                const name = features.data?.features.find((f) => f.key === grant.feature)?.name ?? grant.feature;
                return (
                  <tr key={grant.id}>
                    <td>{name}</td>
                    <td>{terms(grant)}</td>
                    <td>
                      <span className={state.tone ? `badge ${state.tone}` : 'badge'}>{state.label}</span>
                    </td>
                    <td>{formatDateTime(grant.expires_at)}</td>
                    <td>{grant.reason}</td>
                    <td>{formatDateTime(grant.created_at)}</td>
                    {write ? (
                      <td>
                        {grant.revoked_at ? null : (
                          <ConfirmDialog
                            trigger={
                              <button type="button" aria-label={`Revoke the ${name} grant`}>
                                Revoke
                              </button>
                            }
                            title={`Revoke the ${name} grant?`}
                            description={
                              <p>
                                The grant ({terms(grant)}) stops applying at once; the customer is back to what their
                                plan gives. It stays listed as revoked.
                              </p>
                            }
                            confirmLabel="Revoke grant"
                            danger
                            onConfirm={() => revoke(grant)}
                          />
                        )}
                      </td>
                    ) : null}
                  </tr>
                );
              })}
            </tbody>
          </table>
          <ShowMore list={grants} />
        </>
      )}
    </section>
  );
}

/** `2026-03-01T12:00` from a datetime-local field, read as UTC (the console shows every time in UTC). */
function utcIso(local: string): string | undefined {
  if (!local) return undefined;
  const time = Date.parse(`${local}Z`);
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/** A config value as typed: JSON when it parses (`10`, `true`, `{"a":1}`), else the text itself. */
function typedValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function GrantDialog(props: { customerId: string; features: readonly Feature[] }): ReactElement {
  return (
    <FormDialog
      trigger={
        <button type="button" className="primary">
          Grant an override
        </button>
      }
      title="Grant an override"
      description="Changes what this customer gets of one feature, on top of or instead of their plan."
    >
      {(close) => <GrantForm customerId={props.customerId} features={props.features} onDone={close} />}
    </FormDialog>
  );
}

function GrantForm(props: { customerId: string; features: readonly Feature[]; onDone: () => void }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const [featureKey, setFeatureKey] = useState('');
  const [mode, setMode] = useState('override');
  const [access, setAccess] = useState('on');
  const [limit, setLimit] = useState('');
  const [unlimited, setUnlimited] = useState(false);
  const [value, setValue] = useState('');
  const [expires, setExpires] = useState('');
  const [reason, setReason] = useState('');
  const feature = props.features.find((f) => f.key === featureKey);
  const quantified = feature?.type === 'metered' || feature?.type === 'gauge';
  const off = mode === 'override' && access === 'off';

  const create = useMutation({
    mutationFn: () => {
      const body: Record<string, unknown> = { feature: featureKey, mode, reason };
      if (mode === 'override') body.enabled = !off;
      if (!off && quantified) {
        if (mode === 'override' && unlimited) body.limit = null;
        else if (limit !== '') body.limit = Number(limit);
      }
      if (!off && feature?.type === 'config' && value !== '') body.value = typedValue(value);
      const expiresAt = utcIso(expires);
      if (expiresAt) body.expires_at = expiresAt;
      return api.post<Grant>(customerPath(props.customerId, 'grants'), body);
    },
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: customerKeys.of(props.customerId) });
      props.onDone();
    },
  });

  function onSubmit(event: FormEvent): void {
    event.preventDefault();
    create.mutate();
  }

  const shown = ['/feature', '/mode', '/enabled', '/limit', '/value', '/expires_at', '/reason'];
  return (
    <form onSubmit={onSubmit}>
      <Field label="Feature" error={fieldError(create.error, '/feature')}>
        {(control) => (
          <select
            {...control}
            value={featureKey}
            onChange={(event) => {
              setFeatureKey(event.target.value);
              setMode('override');
            }}
            required
          >
            <option value="">Choose a feature…</option>
            {props.features.map((f) => (
              <option key={f.key} value={f.key}>
                {f.name} ({f.key}, {f.type})
              </option>
            ))}
          </select>
        )}
      </Field>
      {quantified ? (
        <Field label="Mode" error={fieldError(create.error, '/mode')}>
          {(control) => (
            <select {...control} value={mode} onChange={(event) => setMode(event.target.value)}>
              <option value="override">Override the plan's terms</option>
              <option value="add">Add to the limit of every period</option>
              {feature?.type === 'metered' ? <option value="credit">One-off credit</option> : null}
            </select>
          )}
        </Field>
      ) : null}
      {mode === 'override' ? (
        <Field label="Access" error={fieldError(create.error, '/enabled')}>
          {(control) => (
            <select {...control} value={access} onChange={(event) => setAccess(event.target.value)}>
              <option value="on">Give the feature</option>
              <option value="off">Take the feature away</option>
            </select>
          )}
        </Field>
      ) : null}
      {quantified && !off ? (
        <>
          {mode === 'override' ? (
            <label className="small" style={{ display: 'block', marginBottom: '0.5rem' }}>
              <input type="checkbox" checked={unlimited} onChange={(event) => setUnlimited(event.target.checked)} />{' '}
              Unlimited
            </label>
          ) : null}
          {mode === 'override' && unlimited ? null : (
            <Field
              label={mode === 'override' ? 'Limit' : 'Units'}
              hint={mode === 'override' ? "Blank keeps the plan's limit." : undefined}
              error={fieldError(create.error, '/limit')}
            >
              {(control) => (
                <input
                  {...control}
                  type="number"
                  min={0}
                  step={1}
                  value={limit}
                  onChange={(event) => setLimit(event.target.value)}
                  required={mode !== 'override'}
                />
              )}
            </Field>
          )}
        </>
      ) : null}
      {feature?.type === 'config' && !off ? (
        <Field label="Value" error={fieldError(create.error, '/value')}>
          {(control) =>
            Array.isArray(feature.options) && feature.options.length > 0 ? (
              <select {...control} value={value} onChange={(event) => setValue(event.target.value)}>
                <option value="">The plan's value</option>
                {feature.options.map((option) => (
                  <option key={JSON.stringify(option)} value={JSON.stringify(option)}>
                    {jsonText(option)}
                  </option>
                ))}
              </select>
            ) : (
              <input {...control} value={value} onChange={(event) => setValue(event.target.value)} />
            )
          }
        </Field>
      ) : null}
      <Field label="Expires at (UTC)" hint="Blank: until revoked." error={fieldError(create.error, '/expires_at')}>
        {(control) => (
          <input
            {...control}
            type="datetime-local"
            value={expires}
            onChange={(event) => setExpires(event.target.value)}
          />
        )}
      </Field>
      <Field label="Reason" hint="Kept for support and audits." error={fieldError(create.error, '/reason')}>
        {(control) => (
          <input
            {...control}
            value={reason}
            onChange={(event) => setReason(event.target.value)}
            maxLength={500}
            required
          />
        )}
      </Field>
      <FormError error={create.error} shown={shown} />
      <div className="actions">
        <button type="button" onClick={props.onDone}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={create.isPending || featureKey === ''}>
          Grant
        </button>
      </div>
    </form>
  );
}
