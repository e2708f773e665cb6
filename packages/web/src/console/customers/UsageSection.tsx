import type { UsageHistory } from '@keymaster/contract';
import { useQuery } from '@tanstack/react-query';
import { lazy, type ReactElement, Suspense, useId, useState } from 'react';
import { formatCount, formatDate, formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, Loading } from '../../ui/forms';
import { useApi } from '../session';
import { useEntitlements } from './EntitlementsSection';
import { customerKeys, customerPath, useFeatures } from './queries';

// recharts is most of a chart page's weight: loaded when a chart is first shown.
const UsageChart = lazy(() => import('./UsageChart').then((module) => ({ default: module.UsageChart })));

type Range = 'period' | 'hours';
const hourMs = 3_600_000;

/**
 * Usage over time of each metered feature the customer has: day buckets over the current usage
 * period (whose total is what checks count), or hour buckets over the last 48 hours.
 */
export function UsageSection(props: { customerId: string }): ReactElement {
  const snapshot = useEntitlements(props.customerId);
  const [range, setRange] = useState<Range>('period');
  // The last 48 whole hours up to the end of the current one, fixed while the page is open.
  const [hours] = useState(() => {
    const to = Math.ceil((Date.now() + 1) / hourMs) * hourMs;
    return { from: new Date(to - 48 * hourMs).toISOString(), to: new Date(to).toISOString() };
  });
  const metered = snapshot.data?.entitlements.filter((e) => e.type === 'metered') ?? [];
  return (
    <section className="panel" aria-labelledby="usage-heading">
      <div className="spread">
        <h2 id="usage-heading" style={{ marginTop: 0 }}>
          Usage
        </h2>
        <Field label="Show">
          {(control) => (
            <select {...control} value={range} onChange={(event) => setRange(event.target.value as Range)}>
              <option value="period">By day, current period</option>
              <option value="hours">By hour, last 48 hours</option>
            </select>
          )}
        </Field>
      </div>
      {snapshot.isPending ? (
        <Loading what="usage" />
      ) : snapshot.isError ? (
        <ErrorAlert error={snapshot.error} />
      ) : metered.length === 0 ? (
        <p className="muted">The customer has no metered features.</p>
      ) : (
        <div className="grid-2">
          {metered.map((e) => (
            <FeatureUsage
              key={e.feature}
              customerId={props.customerId}
              feature={e.feature}
              {...(range === 'hours' ? { granularity: 'hour', ...hours } : { granularity: 'day' })}
            />
          ))}
        </div>
      )}
    </section>
  );
}

function FeatureUsage(props: {
  customerId: string;
  feature: string;
  granularity: 'day' | 'hour';
  from?: string;
  to?: string;
}): ReactElement {
  const api = useApi();
  const titleId = useId();
  const features = useFeatures();
  const feature = features.data?.features.find((f) => f.key === props.feature);
  const name = feature?.name ?? props.feature;
  const unit = feature?.unit ?? '';
  const range = { feature: props.feature, granularity: props.granularity, from: props.from, to: props.to };
  const history = useQuery({
    queryKey: customerKeys.usage(props.customerId, range),
    queryFn: () => api.get<UsageHistory>(customerPath(props.customerId, 'usage'), range),
  });

  const per = props.granularity === 'hour' ? 'hour' : 'day';
  let content: ReactElement;
  if (history.isPending) content = <Loading what={`${name} usage`} />;
  else if (history.isError) content = <ErrorAlert error={history.error} />;
  else {
    const h = history.data;
    const used = h.buckets.filter((bucket) => bucket.usage > 0);
    const peak = used.reduce<(typeof used)[number] | undefined>((a, b) => (a && a.usage >= b.usage ? a : b), undefined);
    const when = (iso: string) => (per === 'hour' ? formatDateTime(iso) : formatDate(iso));
    const span = `${when(h.from)} to ${when(h.to)}`;
    const summary =
      `${formatCount(h.total)} ${unit} ${h.current_period ? 'this period' : 'in the last 48 hours'} (${span})` +
      (peak ? `; most in one ${per}: ${formatCount(peak.usage)} on ${when(peak.start)}.` : '; none used.');
    content = (
      <>
        <p className="small" aria-live="polite">
          {summary}
        </p>
        <Suspense fallback={<Loading what="the chart" />}>
          <UsageChart
            buckets={h.buckets}
            granularity={h.granularity}
            unit={unit}
            label={`Bar chart of ${name} per ${per}: ${summary}`}
          />
        </Suspense>
        {used.length > 0 ? (
          <details>
            <summary className="small">Usage by {per} as a table</summary>
            <table className="small">
              <caption>
                {name} per {per} ({per === 'day' ? 'days' : 'hours'} with usage)
              </caption>
              <thead>
                <tr>
                  <th scope="col">{per === 'day' ? 'Day' : 'Hour'} (UTC)</th>
                  <th scope="col" className="num">
                    Usage
                  </th>
                </tr>
              </thead>
              <tbody>
                {used.map((bucket) => (
                  <tr key={bucket.start}>
                    <td>{when(bucket.start)}</td>
                    <td className="num">{formatCount(bucket.usage)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        ) : null}
      </>
    );
  }
  return (
    <figure aria-labelledby={titleId} style={{ margin: 0 }}>
      <h3 id={titleId} style={{ marginTop: 0 }}>
        {name}
      </h3>
      {content}
    </figure>
  );
}
