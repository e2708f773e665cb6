import type { WebhookEndpoint, WebhookEndpointWithSecret } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type ReactElement, useState } from 'react';
import { segment } from '../../api/client';
import { ConfirmDialog, FormDialog } from '../../ui/dialogs';
import { formatDateTime } from '../../ui/format';
import { ErrorAlert, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useSession } from '../session';
import { DeliveryLog } from './DeliveryLog';
import { EndpointForm, type EndpointInput } from './endpoint-form';

const endpointsKey = ['webhooks', 'endpoints'] as const;

/**
 * `/webhooks`: the endpoints Keymaster signs and POSTs events to (add, change, disable, rotate
 * the secret, delete) and the log of every delivery attempt, each of which can be sent again.
 */
export function WebhooksPage(): ReactElement {
  const { can } = useSession();
  const writable = can('webhooks:write');
  const endpoints = useCursorList<WebhookEndpoint>({ key: endpointsKey, path: '/v1/webhook-endpoints' });
  // The secret of an endpoint just created or rotated: the API answers it this once.
  const [secret, setSecret] = useState<{ url: string; secret: string; rotated: boolean } | null>(null);

  return (
    <>
      <h1>Webhooks</h1>
      <p className="muted">
        Keymaster POSTs each event of the chosen types to every enabled endpoint, signed as Standard Webhooks, and
        retries for about a day and a half until the receiver answers 2xx.
      </p>
      <section aria-labelledby="endpoints-heading">
        <div className="spread">
          <h2 id="endpoints-heading">Endpoints</h2>
          {writable ? <CreateEndpoint onCreated={(created) => setSecret({ ...created, rotated: false })} /> : null}
        </div>
        {secret ? (
          <div className="alert ok" role="status">
            <p style={{ marginTop: 0 }}>
              {secret.rotated ? 'The new signing secret' : 'The signing secret'} of <code>{secret.url}</code>:{' '}
              <code>{secret.secret}</code>
            </p>
            <p>Store it with the receiver now: it is not shown again.</p>
            <button type="button" onClick={() => setSecret(null)}>
              I have stored it
            </button>
          </div>
        ) : null}
        {endpoints.isPending ? (
          <Loading what="endpoints" />
        ) : endpoints.isError ? (
          <ErrorAlert error={endpoints.error} />
        ) : endpoints.rows.length === 0 ? (
          <p className="muted">No endpoints yet.</p>
        ) : (
          <>
            <table>
              <caption className="visually-hidden">Webhook endpoints</caption>
              <thead>
                <tr>
                  <th scope="col">URL</th>
                  <th scope="col">Event types</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  {writable ? <th scope="col">Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {endpoints.rows.map((endpoint) => (
                  <EndpointRow
                    key={endpoint.id}
                    endpoint={endpoint}
                    writable={writable}
                    onRotated={(rotated) => setSecret({ ...rotated, rotated: true })}
                  />
                ))}
              </tbody>
            </table>
            <ShowMore list={endpoints} />
          </>
        )}
      </section>
      <DeliveryLog endpoints={endpoints.rows} />
    </>
  );
}

function CreateEndpoint(props: { onCreated: (endpoint: WebhookEndpointWithSecret) => void }): ReactElement {
  const { api } = useSession();
  const queries = useQueryClient();
  const create = useMutation({
    mutationFn: (input: EndpointInput) =>
      api.post<WebhookEndpointWithSecret>('/v1/webhook-endpoints', {
        url: input.url,
        ...(input.description === null ? {} : { description: input.description }),
        ...(input.events === null ? {} : { events: input.events }),
      }),
    onSuccess: (created) => {
      props.onCreated(created);
      void queries.invalidateQueries({ queryKey: endpointsKey });
    },
  });
  return (
    <FormDialog
      trigger={
        <button type="button" className="primary" onClick={() => create.reset()}>
          Add endpoint
        </button>
      }
      title="Add a webhook endpoint"
      description="Its signing secret is shown once, when it is added."
    >
      {(close) => (
        <EndpointForm
          submitLabel="Add endpoint"
          pending={create.isPending}
          error={create.error}
          onCancel={close}
          onSubmit={(input) => create.mutate(input, { onSuccess: close })}
        />
      )}
    </FormDialog>
  );
}

function EndpointRow(props: {
  endpoint: WebhookEndpoint;
  writable: boolean;
  onRotated: (endpoint: WebhookEndpointWithSecret) => void;
}): ReactElement {
  const { endpoint } = props;
  const { api } = useSession();
  const queries = useQueryClient();
  const path = `/v1/webhook-endpoints/${segment(endpoint.id)}`;
  const refresh = () => queries.invalidateQueries({ queryKey: endpointsKey });
  const change = useMutation({
    mutationFn: (body: EndpointInput) => api.patch<WebhookEndpoint>(path, body),
    onSuccess: refresh,
  });
  const toggle = useMutation({
    mutationFn: (status: 'enabled' | 'disabled') => api.patch<WebhookEndpoint>(path, { status }),
    onSuccess: refresh,
  });
  const label = endpoint.description ?? endpoint.url;
  return (
    <tr>
      <td>
        <code>{endpoint.url}</code>
        {endpoint.description ? <div className="small muted">{endpoint.description}</div> : null}
      </td>
      <td className="small">{endpoint.events === null ? 'Every type' : endpoint.events.join(', ')}</td>
      <td>
        <span className={`badge ${endpoint.status === 'enabled' ? 'ok' : 'warn'}`}>
          {endpoint.status === 'enabled' ? 'Enabled' : 'Disabled'}
        </span>
      </td>
      <td className="small">{formatDateTime(endpoint.created_at)}</td>
      {props.writable ? (
        <td>
          <div className="row">
            <FormDialog
              trigger={
                <button type="button" onClick={() => change.reset()} aria-label={`Edit ${label}`}>
                  Edit
                </button>
              }
              title="Change the webhook endpoint"
            >
              {(close) => (
                <EndpointForm
                  endpoint={endpoint}
                  submitLabel="Save"
                  pending={change.isPending}
                  error={change.error}
                  onCancel={close}
                  onSubmit={(input) => change.mutate(input, { onSuccess: close })}
                />
              )}
            </FormDialog>
            <button
              type="button"
              disabled={toggle.isPending}
              aria-label={`${endpoint.status === 'enabled' ? 'Disable' : 'Enable'} ${label}`}
              onClick={() => toggle.mutate(endpoint.status === 'enabled' ? 'disabled' : 'enabled')}
            >
              {endpoint.status === 'enabled' ? 'Disable' : 'Enable'}
            </button>
            <ConfirmDialog
              trigger={
                <button type="button" aria-label={`Rotate secret of ${label}`}>
                  Rotate secret
                </button>
              }
              title="Rotate the signing secret?"
              description={
                <p>
                  A new secret is made and shown once. For 24 hours deliveries to <code>{endpoint.url}</code> carry two
                  signatures, one with each secret, so the receiver can switch without missing any.
                </p>
              }
              confirmLabel="Rotate secret"
              onConfirm={async () => {
                const rotated = await api.post<WebhookEndpointWithSecret>(`${path}/rotate-secret`);
                props.onRotated(rotated);
              }}
            />
            <ConfirmDialog
              trigger={
                <button type="button" aria-label={`Delete ${label}`}>
                  Delete
                </button>
              }
              title="Delete the webhook endpoint?"
              description={
                <p>
                  <code>{endpoint.url}</code> gets no more events, and its pending deliveries and its delivery log are
                  deleted with it. This cannot be undone.
                </p>
              }
              confirmLabel="Delete endpoint"
              danger
              onConfirm={async () => {
                await api.delete(path);
                await refresh();
              }}
            />
          </div>
          {toggle.isError ? <ErrorAlert error={toggle.error} /> : null}
        </td>
      ) : null}
    </tr>
  );
}
