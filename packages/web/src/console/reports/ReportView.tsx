import type { UsageRevenueReport } from '@keymaster/contract';
import { type ReactElement, type ReactNode, useId, useState } from 'react';
import { Link } from 'react-router';
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { segment } from '../../api/client';
import { formatCount, formatDate, formatMoney } from '../../ui/format';
import { download, usageRevenueCsv } from './csv';

/** Series colours, distinguishable with the usual colour-vision deficiencies (Okabe-Ito). */
const palette = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

/** The flags, short for the chart's axis, and what each means for the table. */
const flagLabels: Record<string, { label: string; meaning: string }> = {
  upsell: { label: 'Upsell', meaning: 'A limited feature at 80 % or more of its limit' },
  unused: { label: 'Unused', meaning: 'A paid, limited feature without usage in the range' },
  over_limit: { label: 'Over limit', meaning: 'Usage past a limit' },
  unpaid_access: { label: 'Unpaid access', meaning: 'Access that earned nothing: grants, past-due time, trials' },
};

/** Rows of the customer table shown at once, and added by "Show more". */
const rowsShown = 50;

/** Minor units as major ones, for a chart's axis (`4900` cents: 49). */
function major(amount: number, currency: string): number {
  try {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() });
    return amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2);
  } catch {
    return amount;
  }
}

/** `formatMoney`, or the plain minor units for a currency code Intl does not know. */
function moneyOf(amount: number, currency: string): string {
  try {
    return formatMoney(amount, currency);
  } catch {
    return `${formatCount(amount)} ${currency} (minor units)`;
  }
}

const percent = (ratio: number | null | undefined): string =>
  ratio === null || ratio === undefined ? '—' : `${Math.round(ratio * 1000) / 10} %`;

/** A titled chart: the picture (named for screen readers) and, under it, the same figures as a table. */
function Chart(props: { title: string; summary: string; chart: ReactElement; table: ReactNode }): ReactElement {
  const headingId = useId();
  return (
    <section className="panel" aria-labelledby={headingId}>
      <h3 id={headingId} style={{ marginTop: 0 }}>
        {props.title}
      </h3>
      <div style={{ width: '100%', height: 260 }}>
        <ResponsiveContainer width="100%" height="100%">
          {props.chart}
        </ResponsiveContainer>
      </div>
      <p className="visually-hidden">{props.summary}</p>
      {props.table}
    </section>
  );
}

/**
 * A usage-revenue report as the API answers it: totals, three charts (revenue by plan, customers
 * by flag, mean utilization by plan and feature), each with its table, and the customers' rows,
 * downloadable as CSV.
 */
export function ReportView(props: { report: UsageRevenueReport; filename: string }): ReactElement {
  const { report } = props;
  const [shown, setShown] = useState(rowsShown);
  const currencies = Object.keys(report.totals.revenue).sort();
  const plans = Object.entries(report.plans).sort(([a], [b]) => a.localeCompare(b));
  const features = [...new Set(plans.flatMap(([, plan]) => Object.keys(plan.utilization)))].sort();
  const flags = Object.keys(flagLabels);

  const revenueData = plans.map(([key, plan]) => ({
    plan: key,
    ...Object.fromEntries(currencies.map((currency) => [currency, major(plan.revenue[currency] ?? 0, currency)])),
  }));
  const flagData = flags.map((flag) => ({
    flag: flagLabels[flag]?.label ?? flag,
    meaning: flagLabels[flag]?.meaning ?? '',
    customers: report.totals.flags[flag] ?? 0,
  }));
  const utilizationData = plans.map(([key, plan]) => ({
    plan: key,
    ...Object.fromEntries(
      features.map((feature) => [feature, Math.round((plan.utilization[feature] ?? 0) * 1000) / 10]),
    ),
  }));
  const money = (byCurrency: Record<string, number>) =>
    currencies.length === 0
      ? '—'
      : currencies.map((currency) => moneyOf(byCurrency[currency] ?? 0, currency)).join(', ');
  const range = `${formatDate(report.from)} to ${formatDate(report.to)}`;

  return (
    <>
      <div className="spread">
        <p style={{ margin: 0 }}>
          <strong>{formatCount(report.totals.customers)}</strong> customers, revenue{' '}
          <strong>{money(report.totals.revenue)}</strong>, from {range} (UTC, end exclusive).
        </p>
        <button
          type="button"
          onClick={() => download({ text: usageRevenueCsv(report), filename: props.filename, type: 'text/csv' })}
        >
          Download CSV
        </button>
      </div>
      {report.data.length === 0 ? (
        <p className="muted">
          No customer had a subscription in this range{plans.length ? ' matching these filters' : ''}.
        </p>
      ) : (
        <>
          <div className="grid-2" style={{ marginTop: '1rem' }}>
            <Chart
              title="Revenue by plan"
              summary={plans.map(([key, plan]) => `${key}: ${money(plan.revenue)}`).join('; ')}
              chart={
                <BarChart data={revenueData} role="img" aria-label="Revenue by plan" accessibilityLayer={false}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="plan" />
                  <YAxis />
                  <Tooltip />
                  <Legend />
                  {currencies.map((currency, index) => (
                    <Bar
                      key={currency}
                      dataKey={currency}
                      name={currency.toUpperCase()}
                      fill={palette[index % palette.length]}
                    />
                  ))}
                </BarChart>
              }
              table={
                <table>
                  <caption className="visually-hidden">Revenue by plan</caption>
                  <thead>
                    <tr>
                      <th scope="col">Plan</th>
                      <th scope="col" className="num">
                        Customers
                      </th>
                      <th scope="col" className="num">
                        Revenue
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {plans.map(([key, plan]) => (
                      <tr key={key}>
                        <td>{key}</td>
                        <td className="num">{formatCount(plan.customers)}</td>
                        <td className="num">{money(plan.revenue)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              }
            />
            <Chart
              title="Customers by flag"
              summary={flagData.map((row) => `${row.flag}: ${row.customers}`).join('; ')}
              chart={
                <BarChart data={flagData} role="img" aria-label="Customers by flag" accessibilityLayer={false}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="flag" tick={{ fontSize: 12 }} interval={0} />
                  <YAxis allowDecimals={false} />
                  <Tooltip />
                  <Bar dataKey="customers" name="Customers" fill={palette[5]} />
                </BarChart>
              }
              table={
                <table>
                  <caption className="visually-hidden">Customers by flag</caption>
                  <thead>
                    <tr>
                      <th scope="col">Flag</th>
                      <th scope="col">Meaning</th>
                      <th scope="col" className="num">
                        Customers
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {flagData.map((row) => (
                      <tr key={row.flag}>
                        <td>{row.flag}</td>
                        <td className="small muted">{row.meaning}</td>
                        <td className="num">{formatCount(row.customers)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              }
            />
          </div>
          {features.length > 0 ? (
            <Chart
              title="Mean utilization by plan"
              summary={plans
                .map(
                  ([key, plan]) => `${key}: ${features.map((f) => `${f} ${percent(plan.utilization[f])}`).join(', ')}`,
                )
                .join('; ')}
              chart={
                <BarChart
                  data={utilizationData}
                  role="img"
                  aria-label="Mean utilization of each limited feature by plan, in percent"
                  accessibilityLayer={false}
                >
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="plan" />
                  <YAxis unit=" %" />
                  <Tooltip />
                  <Legend />
                  {features.map((feature, index) => (
                    <Bar key={feature} dataKey={feature} fill={palette[index % palette.length]} />
                  ))}
                </BarChart>
              }
              table={
                <table>
                  <caption className="visually-hidden">Mean utilization by plan</caption>
                  <thead>
                    <tr>
                      <th scope="col">Plan</th>
                      {features.map((feature) => (
                        <th key={feature} scope="col" className="num">
                          {feature}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {plans.map(([key, plan]) => (
                      <tr key={key}>
                        <td>{key}</td>
                        {features.map((feature) => (
                          <td key={feature} className="num">
                            {percent(plan.utilization[feature])}
                          </td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              }
            />
          ) : null}
          <h3>Customers</h3>
          <table>
            <caption className="visually-hidden">Customers in the report</caption>
            <thead>
              <tr>
                <th scope="col">Customer</th>
                <th scope="col">Plan</th>
                <th scope="col" className="num">
                  Revenue
                </th>
                <th scope="col">Features (usage / limit)</th>
                <th scope="col">Flags</th>
              </tr>
            </thead>
            <tbody>
              {report.data.slice(0, shown).map((row) => (
                <tr key={row.customer}>
                  <td>
                    <Link to={`/customers/${segment(row.customer)}`}>{row.customer}</Link>
                  </td>
                  <td>{row.plan}</td>
                  <td className="num">{moneyOf(row.revenue.amount, row.revenue.currency)}</td>
                  <td className="small">
                    {row.features.length === 0
                      ? '—'
                      : row.features.map((f) => (
                          <div key={f.feature}>
                            <code>{f.feature}</code> {formatCount(f.usage)} /{' '}
                            {f.limit === null ? 'unlimited' : formatCount(f.limit)}
                            {f.utilization === null ? '' : ` (${percent(f.utilization)})`}
                          </div>
                        ))}
                  </td>
                  <td>
                    {row.flags.map((flag) => (
                      <span
                        key={flag}
                        className={`badge ${flag === 'upsell' ? 'ok' : flag === 'unused' ? '' : 'warn'}`}
                      >
                        {flag}
                      </span>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {report.data.length > shown ? (
            <p>
              <button type="button" onClick={() => setShown(shown + rowsShown)}>
                Show more ({formatCount(report.data.length - shown)} left)
              </button>
            </p>
          ) : null}
        </>
      )}
    </>
  );
}
