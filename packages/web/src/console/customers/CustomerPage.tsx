import type { Customer } from '@keymaster/contract';
import { useQuery } from '@tanstack/react-query';
import type { ReactElement, ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { formatDateTime } from '../../ui/format';
import { ErrorAlert, Loading } from '../../ui/forms';
import { useApi, useSession } from '../session';
import { ActivitySection } from './ActivitySection';
import { CustomerActions } from './CustomerActions';
import { EntitlementsSection } from './EntitlementsSection';
import { GrantsSection } from './GrantsSection';
import { jsonText } from './parts';
import { customerKeys, customerPath } from './queries';
import { SubscriptionSection } from './SubscriptionSection';
import { UsageSection } from './UsageSection';

/**
 * `/customers/:id`: one customer as support sees them — who they are, their subscription and its
 * history, what they are entitled to and why, their usage over time, grants, what they were told
 * and recently decided — with the actions the signed-in role may take. Every section reads the
 * public API; the live stream refreshes them when the customer changes.
 */
export function CustomerPage(): ReactElement {
  const { id = '' } = useParams();
  const api = useApi();
  const { can } = useSession();
  const customer = useQuery({
    queryKey: customerKeys.record(id),
    queryFn: () => api.get<Customer>(customerPath(id)),
  });

  if (customer.isPending) return <Loading what="the customer" />;
  if (customer.isError) {
    return (
      <>
        <h1>Customer {id}</h1>
        <ErrorAlert error={customer.error} />
        <p>
          <Link to="/customers">Back to customers</Link>
        </p>
      </>
    );
  }
  const c = customer.data;
  const traits = Object.entries(c.traits);
  const details: [string, ReactNode][] = [
    ['Id', <code key="id">{c.id}</code>],
    ['Email', c.email ?? '—'],
    ['Stripe customer', c.stripe_customer ?? '—'],
    ['Created', formatDateTime(c.created_at)],
    ['Updated', formatDateTime(c.updated_at)],
  ];
  return (
    <>
      <p className="small">
        <Link to="/customers">Customers</Link> / {c.id}
      </p>
      <div className="spread">
        <h1>{c.name ?? c.id}</h1>
        <CustomerActions customer={c} />
      </div>
      <div className="grid-2">
        <section className="panel" aria-labelledby="customer-details">
          <h2 id="customer-details" style={{ marginTop: 0 }}>
            Details
          </h2>
          <table aria-labelledby="customer-details">
            <tbody>
              {details.map(([label, value]) => (
                <tr key={label}>
                  <th scope="row">{label}</th>
                  <td>{value}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="panel" aria-labelledby="customer-traits">
          <h2 id="customer-traits" style={{ marginTop: 0 }}>
            Traits
          </h2>
          {traits.length === 0 ? (
            <p className="muted">No traits. Targeting rules see the plan only.</p>
          ) : (
            <table aria-labelledby="customer-traits">
              <thead>
                <tr>
                  <th scope="col">Trait</th>
                  <th scope="col">Value</th>
                </tr>
              </thead>
              <tbody>
                {traits.map(([key, value]) => (
                  <tr key={key}>
                    <td>
                      <code>{key}</code>
                    </td>
                    <td>{jsonText(value)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>
      <SubscriptionSection customerId={c.id} />
      {can('check:read') ? <EntitlementsSection customerId={c.id} /> : null}
      {can('usage:read') && can('check:read') ? <UsageSection customerId={c.id} /> : null}
      <GrantsSection customerId={c.id} />
      <ActivitySection customerId={c.id} />
    </>
  );
}
