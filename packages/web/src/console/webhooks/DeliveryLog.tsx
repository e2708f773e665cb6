import type { WebhookAttempt, WebhookDeliveryResent, WebhookEndpoint } from '@keymaster/contract';
import { useMutation } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import { useSearchParams } from 'react-router';
import { segment } from '../../api/client';
import { formatCount, formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useSession } from '../session';

const statusFilters = { all: undefined, failed: false, succeeded: true } as const;
type StatusFilter = keyof typeof statusFilters;

/**
 * The delivery log of one endpoint (chosen in the URL's `endpoint`, else the first): every
 * attempt, oldest first, optionally only the failed or the successful ones (`status`), each
 * delivery with a button that queues it again.
 */
export function DeliveryLog(props: { endpoints: readonly WebhookEndpoint[] }): ReactElement {
  const { can } = useSession();
  const [params, setParams] = useSearchParams();
  const endpointId = params.get('endpoint') ?? props.endpoints[0]?.id;
  const status: StatusFilter =
    params.get('status') === 'failed' || params.get('status') === 'succeeded'
      ? (params.get('status') as StatusFilter)
      : 'all';
  const choose = (name: string, value: string) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value === '' || value === 'all') next.delete(name);
        else next.set(name, value);
        return next;
      },
      { replace: true },
    );
  const attempts = useCursorList<WebhookAttempt>({
    key: ['webhooks', 'deliveries', endpointId],
    path: `/v1/webhook-endpoints/${segment(endpointId ?? '')}/deliveries`,
    query: { succeeded: statusFilters[status] },
    enabled: endpointId !== undefined,
  });
  const chosen = props.endpoints.find((endpoint) => endpoint.id === endpointId);

  return (
    <section aria-labelledby="deliveries-heading">
      <div className="spread">
        <h2 id="deliveries-heading">Delivery log</h2>
        <button
          type="button"
          disabled={endpointId === undefined || attempts.isFetching}
          onClick={() => void attempts.refetch()}
        >
          Refresh
        </button>
      </div>
      <div className="row">
        <Field label="Endpoint">
          {(control) => (
            <select {...control} value={endpointId ?? ''} onChange={(e) => choose('endpoint', e.target.value)}>
              {endpointId !== undefined && !chosen ? <option value={endpointId}>{endpointId}</option> : null}
              {props.endpoints.map((endpoint) => (
                <option key={endpoint.id} value={endpoint.id}>
                  {endpoint.description ? `${endpoint.description} (${endpoint.url})` : endpoint.url}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Status">
          {(control) => (
            <select {...control} value={status} onChange={(e) => choose('status', e.target.value)}>
              <option value="all">Every attempt</option>
              <option value="failed">Failed</option>
              <option value="succeeded">Succeeded</option>
            </select>
          )}
        </Field>
      </div>
      {endpointId === undefined ? (
        <p className="muted">Add an endpoint to see its deliveries here.</p>
      ) : attempts.isPending ? (
        <Loading what="deliveries" />
      ) : attempts.isError ? (
        <ErrorAlert error={attempts.error} />
      ) : attempts.rows.length === 0 ? (
        <p className="muted">No delivery attempts{status === 'all' ? '' : ` that ${status}`} yet.</p>
      ) : (
        <>
          <table>
            <caption className="visually-hidden">Delivery attempts, oldest first</caption>
            <thead>
              <tr>
                <th scope="col">Attempted</th>
                <th scope="col">Event</th>
                <th scope="col">Result</th>
                <th scope="col" className="num">
                  Duration
                </th>
                <th scope="col">Next retry</th>
                {can('webhooks:write') ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {attempts.rows.map((attempt) => (
                <AttemptRow key={attempt.id} attempt={attempt} writable={can('webhooks:write')} />
              ))}
            </tbody>
          </table>
          <ShowMore list={attempts} />
        </>
      )}
    </section>
  );
}

function AttemptRow(props: { attempt: WebhookAttempt; writable: boolean }): ReactElement {
  const { attempt } = props;
  const { api } = useSession();
  const resend = useMutation({
    mutationFn: () => api.post<WebhookDeliveryResent>(`/v1/webhook-deliveries/${segment(attempt.delivery)}/resend`),
  });
  const answer = attempt.error ?? attempt.response_body;
  return (
    <tr>
      <td className="small">{formatDateTime(attempt.attempted_at)}</td>
      <td>
        <code>{attempt.type}</code>
        <div className="small muted">{attempt.event}</div>
      </td>
      <td>
        <span className={`badge ${attempt.succeeded ? 'ok' : 'danger'}`}>
          {attempt.succeeded ? 'Delivered' : 'Failed'}
          {attempt.status_code === null ? '' : ` · ${attempt.status_code}`}
        </span>
        {answer ? <div className="small muted">{answer.length > 120 ? `${answer.slice(0, 120)}…` : answer}</div> : null}
      </td>
      <td className="num small">{formatCount(attempt.duration_ms)} ms</td>
      <td className="small">{formatDateTime(attempt.next_retry_at)}</td>
      {props.writable ? (
        <td>
          <button
            type="button"
            disabled={resend.isPending}
            aria-label={`Resend ${attempt.type} (${attempt.event}) of ${formatDateTime(attempt.attempted_at)}`}
            onClick={() => resend.mutate()}
          >
            Resend
          </button>
          {resend.isSuccess ? (
            <div className="small" role="status">
              Queued: sent again within seconds.
            </div>
          ) : null}
          {resend.isError ? <ErrorAlert error={resend.error} /> : null}
        </td>
      ) : null}
    </tr>
  );
}
