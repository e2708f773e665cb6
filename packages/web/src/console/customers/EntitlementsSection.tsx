import type { CustomerEntitlements, Entitlement } from '@keymaster/contract';
import { useQuery } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import { formatCount, formatDateTime } from '../../ui/format';
import { ErrorAlert, Loading } from '../../ui/forms';
import { useApi } from '../session';
import { jsonText } from './parts';
import { customerKeys, customerPath, useFeatures } from './queries';

/** The customer's entitlement snapshot, as `GET /v1/customers/:id/entitlements` answers it. */
export function useEntitlements(customerId: string) {
  const api = useApi();
  return useQuery({
    queryKey: customerKeys.entitlements(customerId),
    queryFn: () => api.get<CustomerEntitlements>(customerPath(customerId, 'entitlements')),
  });
}

/** Which layer decided an entitlement, in words: a disabled feature is the catalog's kill switch. */
export function sourceLabel(entitlement: Entitlement): string {
  if (entitlement.reason === 'feature_disabled') return 'kill switch';
  switch (entitlement.source) {
    case 'plan':
      return 'plan';
    case 'addon':
      return 'add-on';
    case 'grant':
      return 'grant';
    case 'targeting':
      return 'targeting rule';
    case 'default':
      return 'feature default';
    case null:
      return '—';
    default:
      return entitlement.source;
  }
}

const reasonText: Record<string, string> = {
  entitled: 'Enabled',
  no_entitlement: 'Not included',
  feature_disabled: 'Disabled for everyone',
  subscription_inactive: 'Subscription inactive',
  limit_reached: 'Limit reached',
};

/** `250 of 1,000 calls` with a bar, `12 (unlimited)`, or the value of a config feature. */
function Allowance(props: { entitlement: Entitlement; unit: string | null }): ReactElement {
  const e = props.entitlement;
  const unit = props.unit ? ` ${props.unit}` : '';
  if (e.type === 'boolean') return <span className="muted">—</span>;
  if (e.type === 'config') return <span>{jsonText(e.value)}</span>;
  if (e.unlimited)
    return (
      <span>
        {formatCount(e.usage ?? 0)}
        {unit} used (unlimited)
      </span>
    );
  if (e.limit === null) return <span>{e.usage === null ? '—' : `${formatCount(e.usage)}${unit} used`}</span>;
  const usage = e.usage ?? 0;
  const share = e.limit === 0 ? (usage > 0 ? 1 : 0) : usage / e.limit;
  return (
    <div>
      <span>
        {formatCount(usage)} of {formatCount(e.limit)}
        {unit} ({Math.round(share * 100)}%)
      </span>
      <div className={share > 1 ? 'meter over' : 'meter'} aria-hidden="true">
        <span style={{ width: `${Math.min(100, share * 100)}%` }} />
      </div>
    </div>
  );
}

export function EntitlementsSection(props: { customerId: string }): ReactElement {
  const snapshot = useEntitlements(props.customerId);
  const features = useFeatures();
  const featureOf = (key: string) => features.data?.features.find((feature) => feature.key === key);
  return (
    <section className="panel" aria-labelledby="entitlements-heading">
      <h2 id="entitlements-heading" style={{ marginTop: 0 }}>
        Entitlements
      </h2>
      {snapshot.isPending ? (
        <Loading what="entitlements" />
      ) : snapshot.isError ? (
        <ErrorAlert error={snapshot.error} />
      ) : snapshot.data.entitlements.length === 0 ? (
        <p className="muted">The catalog has no features yet.</p>
      ) : (
        <>
          <p className="small muted">
            Computed {formatDateTime(snapshot.data.computed_at)}
            {snapshot.data.plan ? ` from plan ${snapshot.data.plan.key} version ${snapshot.data.plan.version}` : ''}
            {snapshot.data.subscription_status ? ` (${snapshot.data.subscription_status.replace('_', ' ')})` : ''}.
          </p>
          <table aria-labelledby="entitlements-heading">
            <thead>
              <tr>
                <th scope="col">Feature</th>
                <th scope="col">Access</th>
                <th scope="col">Source</th>
                <th scope="col">Usage and limit</th>
                <th scope="col">Resets</th>
              </tr>
            </thead>
            <tbody>
              {snapshot.data.entitlements.map((e) => {
                const feature = featureOf(e.feature);
                return (
                  <tr key={e.feature}>
                    <td>
                      {feature?.name ?? e.feature}
                      <div className="muted small">
                        <code>{e.feature}</code> · {e.type}
                      </div>
                    </td>
                    <td>
                      <span className={e.enabled ? 'badge ok' : 'badge'}>
                        {e.enabled ? 'Enabled' : (reasonText[e.reason] ?? e.reason)}
                      </span>
                    </td>
                    <td>{sourceLabel(e)}</td>
                    <td>
                      <Allowance entitlement={e} unit={feature?.unit ?? null} />
                    </td>
                    <td>{e.resets_at ? formatDateTime(e.resets_at) : '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
