import type { Customer } from '@keymaster/contract';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { type FormEvent, type ReactElement, useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { Page } from '../../api/client';
import { formatDate } from '../../ui/format';
import { ErrorAlert, Field, Loading } from '../../ui/forms';
import { useApi } from '../session';
import { StatusBadge } from './parts';
import { customerKeys, useLatestSubscription, usePlans } from './queries';

const pageSize = 25;

/**
 * `/customers`: a search box and one page of customers at a time. The search (`q`), the page's
 * cursor and the cursors of the pages before it (`back`, for "Previous page") live in the URL,
 * so a page can be reloaded, bookmarked and shared. Each page is one request whatever the number
 * of customers; each row's plan and status is one more (shared with the customer's page).
 */
export function CustomerList(): ReactElement {
  const api = useApi();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const cursor = params.get('cursor') ?? undefined;
  // The cursors of the pages before this one, oldest first ('' is the first page).
  const back = params.has('back') ? (params.get('back') ?? '').split(',') : [];
  const [draft, setDraft] = useState(q);
  // Back and forward change the search in the URL: the box follows.
  useEffect(() => setDraft(q), [q]);

  const page = useQuery({
    queryKey: customerKeys.list({ q, cursor }),
    queryFn: () => api.get<Page<Customer>>('/v1/customers', { q, cursor, limit: pageSize }),
    placeholderData: keepPreviousData,
  });

  function go(next: { q: string; cursor?: string | undefined; back?: string[] }): void {
    const search = new URLSearchParams();
    if (next.q) search.set('q', next.q);
    if (next.cursor) search.set('cursor', next.cursor);
    if (next.back && next.back.length > 0) search.set('back', next.back.join(','));
    setParams(search);
  }

  function onSearch(event: FormEvent): void {
    event.preventDefault();
    go({ q: draft.trim() });
  }

  const data = page.data;
  return (
    <>
      <h1>Customers</h1>
      <search>
        <form className="panel" onSubmit={onSearch}>
          <div className="row" style={{ alignItems: 'flex-end' }}>
            <Field label="Search customers" hint="The start of an id (exact), a name or an email (any case).">
              {(control) => (
                <input
                  {...control}
                  type="search"
                  value={draft}
                  onChange={(event) => setDraft(event.target.value)}
                  maxLength={255}
                />
              )}
            </Field>
            <div className="field">
              <button type="submit" className="primary">
                Search
              </button>
            </div>
            {q ? (
              <div className="field">
                <button
                  type="button"
                  onClick={() => {
                    setDraft('');
                    go({ q: '' });
                  }}
                >
                  Clear search
                </button>
              </div>
            ) : null}
          </div>
        </form>
      </search>
      {page.isPending ? (
        <Loading what="customers" />
      ) : page.isError ? (
        <ErrorAlert error={page.error} />
      ) : data && data.data.length === 0 ? (
        <p className="alert info">{q ? `No customer's id, name or email starts with “${q}”.` : 'No customers yet.'}</p>
      ) : data ? (
        <>
          <table aria-busy={page.isFetching}>
            <caption>
              {q ? `Customers matching “${q}”` : 'Customers'}, page {back.length + 1}
            </caption>
            <thead>
              <tr>
                <th scope="col">Customer</th>
                <th scope="col">Email</th>
                <th scope="col">Plan</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {data.data.map((customer) => (
                <CustomerRow key={customer.id} customer={customer} />
              ))}
            </tbody>
          </table>
          <nav className="row" aria-label="Pages" style={{ marginTop: '0.75rem' }}>
            <button
              type="button"
              disabled={back.length === 0}
              onClick={() => go({ q, cursor: back[back.length - 1], back: back.slice(0, -1) })}
            >
              Previous page
            </button>
            <button
              type="button"
              disabled={!data.next_cursor}
              onClick={() => go({ q, cursor: data.next_cursor ?? undefined, back: [...back, cursor ?? ''] })}
            >
              Next page
            </button>
          </nav>
        </>
      ) : null}
    </>
  );
}

function CustomerRow(props: { customer: Customer }): ReactElement {
  const { customer } = props;
  const subscription = useLatestSubscription(customer.id);
  const plans = usePlans();
  const sub = subscription.data;
  const plan = sub ? plans.data?.plans.find((p) => p.key === sub.plan) : undefined;
  return (
    <tr>
      <td>
        <Link to={`/customers/${encodeURIComponent(customer.id)}`}>{customer.name ?? customer.id}</Link>
        {customer.name ? <div className="muted small">{customer.id}</div> : null}
      </td>
      <td>{customer.email ?? '—'}</td>
      <td>
        {subscription.isPending ? (
          <span className="muted">…</span>
        ) : subscription.isError ? (
          <span className="muted">unavailable</span>
        ) : sub ? (
          (plan?.name ?? sub.plan)
        ) : (
          <span className="muted">none</span>
        )}
      </td>
      <td>{sub ? <StatusBadge status={sub.status} /> : null}</td>
      <td>{formatDate(customer.created_at)}</td>
    </tr>
  );
}
