import type { AuditEvent } from '@keymaster/contract';
import { useMutation } from '@tanstack/react-query';
import { type FormEvent, Fragment, type ReactElement, useState } from 'react';
import { useSearchParams } from 'react-router';
import type { Query } from '../../api/client';
import { formatCount, formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useSession } from '../session';

/** `GET /v1/audit-events/verify`'s answer. */
interface AuditVerification {
  ok: boolean;
  count: number;
  head: string | null;
  from_seq: number;
  first_bad_seq: number | null;
  reason: string | null;
}

/** The filters `GET /v1/audit-events` takes, kept in the page's URL under the same names. */
const textFilters = [
  { name: 'action', label: 'Action', hint: 'e.g. customer.created' },
  { name: 'actor_id', label: 'Actor id', hint: 'An API key or user id, stripe, …' },
  { name: 'customer', label: 'Customer' },
  { name: 'target_type', label: 'Target type', hint: 'e.g. plan, grant' },
  { name: 'target_id', label: 'Target id' },
] as const;
const actorTypes = ['api_key', 'user', 'integration', 'system'] as const;
const filterNames = [...textFilters.map((f) => f.name), 'actor_type', 'from', 'to'] as const;

/** A `datetime-local` value read as UTC, to the API's ISO form (and back). */
const toIso = (local: string): string => (local ? `${local}:00.000Z` : '');
const toLocal = (iso: string | null): string => (iso ? iso.slice(0, 16) : '');

/**
 * `/audit`: the append-only trail of every change, newest first, filtered by actor, action,
 * target, customer and time; each entry opens to show what changed. "Verify chain" recomputes
 * every hash link and names the first row that does not hold.
 */
export function AuditPage(): ReactElement {
  const [params, setParams] = useSearchParams();
  const query: Query = {};
  for (const name of filterNames) query[name] = params.get(name) ?? undefined;
  const events = useCursorList<AuditEvent>({ key: ['audit', 'events'], path: '/v1/audit-events', query });
  const filtered = filterNames.some((name) => params.get(name));

  return (
    <>
      <h1>Audit log</h1>
      <p className="muted">
        Every change through the API, the command line or an integration, newest first. Each entry's hash commits to the
        one before it, so an edited, deleted or reordered entry breaks the chain.
      </p>
      <VerifyChain />
      <Filters
        key={params.toString()}
        initial={params}
        onApply={(next) => setParams(next, { replace: true })}
        filtered={filtered}
      />
      {events.isPending ? (
        <Loading what="the audit log" />
      ) : events.isError ? (
        <ErrorAlert error={events.error} />
      ) : events.rows.length === 0 ? (
        <p className="muted">{filtered ? 'No entries match these filters.' : 'No entries yet.'}</p>
      ) : (
        <>
          <table>
            <caption className="visually-hidden">Audit entries, newest first</caption>
            <thead>
              <tr>
                <th scope="col" className="num">
                  Seq
                </th>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Customer</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {events.rows.map((event) => (
                <EventRow key={event.seq} event={event} />
              ))}
            </tbody>
          </table>
          <ShowMore list={events} />
        </>
      )}
    </>
  );
}

function VerifyChain(): ReactElement {
  const { api } = useSession();
  const verify = useMutation({ mutationFn: () => api.get<AuditVerification>('/v1/audit-events/verify') });
  const verdict = verify.data;
  return (
    <section className="panel" aria-labelledby="verify-heading">
      <div className="spread">
        <h2 id="verify-heading" style={{ margin: 0 }}>
          Chain integrity
        </h2>
        <button type="button" className="primary" disabled={verify.isPending} onClick={() => verify.mutate()}>
          {verify.isPending ? 'Verifying…' : 'Verify chain'}
        </button>
      </div>
      <div aria-live="polite">
        {verify.isError ? <ErrorAlert error={verify.error} title="Verification failed to run" /> : null}
        {verdict?.ok ? (
          <div className="alert ok" style={{ margin: '0.75rem 0 0' }}>
            <strong>Verified up to seq {verdict.from_seq + verdict.count}.</strong> Every link holds:{' '}
            {formatCount(verdict.count)} {verdict.count === 1 ? 'entry' : 'entries'} checked
            {verdict.from_seq > 0 ? ` from the retention checkpoint at seq ${verdict.from_seq}` : ''}.
            {verdict.head ? (
              <div className="small">
                Head hash <code>{verdict.head}</code>
              </div>
            ) : null}
          </div>
        ) : null}
        {verdict && !verdict.ok ? (
          <div className="alert error" style={{ margin: '0.75rem 0 0' }}>
            <strong>The chain is broken at seq {verdict.first_bad_seq}</strong>: {verdict.reason}.{' '}
            {formatCount(verdict.count)} {verdict.count === 1 ? 'entry' : 'entries'} before it held.
          </div>
        ) : null}
      </div>
    </section>
  );
}

function Filters(props: {
  initial: URLSearchParams;
  filtered: boolean;
  onApply: (params: Record<string, string>) => void;
}): ReactElement {
  const [values, setValues] = useState<Record<string, string>>(() => {
    const initial: Record<string, string> = {};
    for (const name of filterNames) initial[name] = props.initial.get(name) ?? '';
    initial.from = toLocal(props.initial.get('from'));
    initial.to = toLocal(props.initial.get('to'));
    return initial;
  });
  const set = (name: string, value: string) => setValues((current) => ({ ...current, [name]: value }));
  const apply = (event: FormEvent) => {
    event.preventDefault();
    const next: Record<string, string> = {};
    for (const name of filterNames) {
      const value = (values[name] ?? '').trim();
      if (value) next[name] = name === 'from' || name === 'to' ? toIso(value) : value;
    }
    props.onApply(next);
  };
  return (
    <form className="panel" onSubmit={apply} aria-label="Filter the audit log">
      <div className="grid-2" style={{ gridTemplateColumns: 'repeat(auto-fit, minmax(200px, 1fr))' }}>
        <Field label="Actor type">
          {(control) => (
            <select {...control} value={values.actor_type ?? ''} onChange={(e) => set('actor_type', e.target.value)}>
              <option value="">Any</option>
              {actorTypes.map((type) => (
                <option key={type} value={type}>
                  {type}
                </option>
              ))}
            </select>
          )}
        </Field>
        {textFilters.map((filter) => (
          <Field key={filter.name} label={filter.label} hint={'hint' in filter ? filter.hint : undefined}>
            {(control) => (
              <input
                {...control}
                value={values[filter.name] ?? ''}
                onChange={(e) => set(filter.name, e.target.value)}
              />
            )}
          </Field>
        ))}
        <Field label="From (UTC)">
          {(control) => (
            <input
              {...control}
              type="datetime-local"
              value={values.from ?? ''}
              onChange={(e) => set('from', e.target.value)}
            />
          )}
        </Field>
        <Field label="To (UTC, exclusive)">
          {(control) => (
            <input
              {...control}
              type="datetime-local"
              value={values.to ?? ''}
              onChange={(e) => set('to', e.target.value)}
            />
          )}
        </Field>
      </div>
      <div className="row">
        <button type="submit" className="primary">
          Apply filters
        </button>
        {props.filtered ? (
          <button type="button" onClick={() => props.onApply({})}>
            Clear filters
          </button>
        ) : null}
      </div>
    </form>
  );
}

function EventRow(props: { event: AuditEvent }): ReactElement {
  const { event } = props;
  const [open, setOpen] = useState(false);
  const detailsId = `audit-${event.seq}`;
  return (
    <Fragment>
      <tr>
        <td className="num">{event.seq}</td>
        <td className="small">{formatDateTime(event.at)}</td>
        <td className="small">
          {event.actor.type}
          <div className="muted">{event.actor.id}</div>
        </td>
        <td>
          <code>{event.action}</code>
        </td>
        <td className="small">
          {event.target.type}
          <div className="muted">{event.target.id}</div>
        </td>
        <td className="small">{event.customer ?? '—'}</td>
        <td>
          <button
            type="button"
            className="link"
            aria-expanded={open}
            aria-controls={open ? detailsId : undefined}
            aria-label={`${open ? 'Hide' : 'Show'} data of entry ${event.seq}`}
            onClick={() => setOpen(!open)}
          >
            {open ? 'Hide data' : 'Show data'}
          </button>
        </td>
      </tr>
      {open ? (
        <tr id={detailsId}>
          <td colSpan={7}>
            {event.data === null ? (
              <p className="muted">No data: the customer was erased (the entry's digest still holds its place).</p>
            ) : (
              <pre className="code">{JSON.stringify(event.data, null, 2)}</pre>
            )}
            <dl className="small muted" style={{ margin: 0 }}>
              <dt>Request</dt>
              <dd>{event.actor.request_id ?? '—'}</dd>
              <dt>Hash</dt>
              <dd>
                <code>{event.hash}</code>
              </dd>
              <dt>Previous hash</dt>
              <dd>
                <code>{event.prev_hash}</code>
              </dd>
            </dl>
          </td>
        </tr>
      ) : null}
    </Fragment>
  );
}
