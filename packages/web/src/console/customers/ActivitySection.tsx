import type { LoggedDecision, Notification } from '@keymaster/contract';
import type { ReactElement } from 'react';
import { formatCount, formatDateTime } from '../../ui/format';
import { ErrorAlert, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useSession } from '../session';

import { customerKeys, customerPath } from './queries';

/** What the customer was told (in-app notifications) and, for roles that read the audit area, what was decided. */
export function ActivitySection(props: { customerId: string }): ReactElement {
  const { can } = useSession();
  return (
    <div className="grid-2">
      <Notifications customerId={props.customerId} />
      {can('audit:read') ? <Decisions customerId={props.customerId} /> : null}
    </div>
  );
}

function Notifications(props: { customerId: string }): ReactElement {
  const list = useCursorList<Notification>({
    key: customerKeys.notifications(props.customerId),
    path: customerPath(props.customerId, 'notifications'),
    query: { limit: 10 },
  });
  const { rows } = list;
  return (
    <section className="panel" aria-labelledby="notifications-heading">
      <h2 id="notifications-heading" style={{ marginTop: 0 }}>
        Notifications sent
      </h2>
      {list.isPending ? (
        <Loading what="notifications" />
      ) : list.isError ? (
        <ErrorAlert error={list.error} />
      ) : rows.length === 0 ? (
        <p className="muted">None yet: alerts and lifecycle notices to the customer show here.</p>
      ) : (
        <>
          <ul aria-labelledby="notifications-heading" style={{ listStyle: 'none', padding: 0, margin: 0 }}>
            {rows.map((n) => (
              <li key={n.id} style={{ marginBottom: '0.6rem' }}>
                <strong>{n.title}</strong>{' '}
                <span className={n.read_at ? 'badge' : 'badge warn'}>{n.read_at ? 'read' : 'unread'}</span>
                <div className="small">{n.body}</div>
                <div className="small muted">
                  <code>{n.type}</code> · {formatDateTime(n.created_at)}
                </div>
              </li>
            ))}
          </ul>
          <ShowMore list={list} />
        </>
      )}
    </section>
  );
}

const sourceText: Record<string, string> = {
  kill_switch: 'kill switch',
  grant: 'grant',
  targeting: 'targeting rule',
  plan: 'plan',
  addon: 'add-on',
  default: 'feature default',
};

function Decisions(props: { customerId: string }): ReactElement {
  const list = useCursorList<LoggedDecision>({
    key: customerKeys.decisions(props.customerId),
    path: '/v1/decisions',
    query: { customer: props.customerId, limit: 10 },
  });
  const { rows } = list;
  return (
    <section className="panel" aria-labelledby="decisions-heading">
      <h2 id="decisions-heading" style={{ marginTop: 0 }}>
        Recent decisions
      </h2>
      {list.isPending ? (
        <Loading what="decisions" />
      ) : list.isError ? (
        <ErrorAlert error={list.error} />
      ) : rows.length === 0 ? (
        <p className="muted">
          No decisions kept. The decision log keeps each feature's refusals by default (its <code>decision_log</code>{' '}
          setting).
        </p>
      ) : (
        <>
          <table aria-labelledby="decisions-heading" className="small">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Feature</th>
                <th scope="col">Answer</th>
                <th scope="col">Decided by</th>
                <th scope="col" className="num">
                  Usage / limit
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((d) => (
                <tr key={d.id}>
                  <td>{formatDateTime(d.at)}</td>
                  <td>
                    <code>{d.feature}</code> <span className="muted">({d.kind})</span>
                  </td>
                  <td>
                    <span className={d.allowed ? 'badge ok' : 'badge danger'}>{d.allowed ? 'allowed' : 'denied'}</span>{' '}
                    {d.reason.replaceAll('_', ' ')}
                  </td>
                  <td>
                    {d.provenance.source ? (sourceText[d.provenance.source] ?? d.provenance.source) : '—'}
                    {d.provenance.plan ? ` (${d.provenance.plan.key})` : ''}
                  </td>
                  <td className="num">
                    {d.usage === null && d.limit === null
                      ? '—'
                      : `${formatCount(d.usage)} / ${d.limit === null ? 'no limit' : formatCount(d.limit)}`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <ShowMore list={list} />
        </>
      )}
    </section>
  );
}
