import type {
  StoredReport,
  StoredUsageRevenueReport,
  UsageRevenueReport,
  UsageRevenueReportCreate,
} from '@keymaster/contract';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactElement, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { segment } from '../../api/client';
import { formatCount, formatDate, formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, FormError, fieldError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useSession } from '../session';
import { ReportView } from './ReportView';

const flags = ['upsell', 'unused', 'over_limit', 'unpaid_access'] as const;
type Flag = (typeof flags)[number];

interface Range {
  /** ISO times, `to` exclusive. */
  from: string;
  to: string;
  plan: string;
  flag: string;
}

const day = (iso: string): string => iso.slice(0, 10);
const startOf = (date: string): string => `${date}T00:00:00.000Z`;

/** The quarter so far (UTC): from its first day to the end of today. */
function thisQuarter(now = new Date()): { from: string; to: string } {
  const year = now.getUTCFullYear();
  const quarter = Math.floor(now.getUTCMonth() / 3) * 3;
  return {
    from: new Date(Date.UTC(year, quarter, 1)).toISOString(),
    to: new Date(Date.UTC(year, now.getUTCMonth(), now.getUTCDate() + 1)).toISOString(),
  };
}

function lastQuarter(now = new Date()): { from: string; to: string } {
  const year = now.getUTCFullYear();
  const quarter = Math.floor(now.getUTCMonth() / 3) * 3;
  return {
    from: new Date(Date.UTC(year, quarter - 3, 1)).toISOString(),
    to: new Date(Date.UTC(year, quarter, 1)).toISOString(),
  };
}

const bytes = (size: number): string =>
  size < 1024
    ? `${size} B`
    : size < 1024 ** 2
      ? `${(size / 1024).toFixed(1)} KiB`
      : `${(size / 1024 ** 2).toFixed(1)} MiB`;

/**
 * `/reports`: the usage-against-revenue report over a range (and a plan or a flag), as charts
 * and tables with a CSV download; storing it; and the stored reports (the schedule's, the API's,
 * the command line's), each opened here or downloaded as the API serves it.
 */
export function ReportsPage(): ReactElement {
  const [params, setParams] = useSearchParams();
  const stored = params.get('stored');
  const quarter = thisQuarter();
  const range: Range = {
    from: params.get('from') ?? quarter.from,
    to: params.get('to') ?? quarter.to,
    plan: params.get('plan') ?? '',
    flag: params.get('flag') ?? '',
  };
  return (
    <>
      <h1>Reports</h1>
      <section aria-labelledby="usage-revenue-heading">
        <h2 id="usage-revenue-heading">Usage against revenue</h2>
        <p className="muted">
          Per customer with a subscription in the range: what they paid (prorated; trial, paused, past-due and canceled
          time earn nothing), each limited feature's usage against its limit, and the flags: upsell, unused, over limit,
          unpaid access.
        </p>
        {stored ? (
          <StoredReportView id={stored} />
        ) : (
          <LiveReport
            key={`${range.from}|${range.to}|${range.plan}|${range.flag}`}
            range={range}
            onRun={(next) => {
              const query: Record<string, string> = { from: next.from, to: next.to };
              if (next.plan) query.plan = next.plan;
              if (next.flag) query.flag = next.flag;
              setParams(query);
            }}
          />
        )}
      </section>
      <StoredReports />
    </>
  );
}

function LiveReport(props: { range: Range; onRun: (range: Range) => void }): ReactElement {
  const { range } = props;
  const { api, can } = useSession();
  const queries = useQueryClient();
  const report = useQuery({
    queryKey: ['reports', 'usage-revenue', range],
    queryFn: () =>
      api.get<UsageRevenueReport>('/v1/reports/usage-revenue', {
        from: range.from,
        to: range.to,
        plan: range.plan,
        flag: range.flag,
      }),
    staleTime: 60_000,
    retry: false,
  });
  const store = useMutation({
    mutationFn: () => {
      const body: UsageRevenueReportCreate = { from: range.from, to: range.to };
      if (range.plan) body.plan = range.plan;
      if (range.flag) body.flag = range.flag as Flag;
      return api.post<StoredReport>('/v1/reports/usage-revenue', body);
    },
    onSuccess: () => queries.invalidateQueries({ queryKey: ['reports', 'stored'] }),
  });
  return (
    <>
      <RangeForm range={range} error={report.error} onRun={props.onRun} />
      {report.isPending ? (
        <Loading what="the report" />
      ) : report.isError ? (
        <FormError
          error={report.error}
          shown={['/querystring/from', '/querystring/to', '/querystring/plan', '/querystring/flag']}
        />
      ) : (
        <>
          <ReportView
            report={report.data}
            filename={`usage-revenue-${day(range.from)}-${day(range.to)}${range.plan ? `-${range.plan}` : ''}${range.flag ? `-${range.flag}` : ''}.csv`}
          />
          {can('reports:write') ? (
            <div className="row" style={{ marginTop: '1rem' }}>
              <button type="button" disabled={store.isPending} onClick={() => store.mutate()}>
                Store this report
              </button>
              <span className="muted small">Keeps it as of now, under Stored reports.</span>
            </div>
          ) : null}
          <div aria-live="polite">
            {store.isSuccess ? (
              <p className="alert ok">
                Stored as <Link to={`/reports?stored=${segment(store.data.id)}`}>{store.data.id}</Link>.
              </p>
            ) : null}
            {store.isError ? <FormError error={store.error} /> : null}
          </div>
        </>
      )}
    </>
  );
}

function RangeForm(props: { range: Range; error: unknown; onRun: (range: Range) => void }): ReactElement {
  const { error } = props;
  const [from, setFrom] = useState(day(props.range.from));
  const [to, setTo] = useState(day(props.range.to));
  const [plan, setPlan] = useState(props.range.plan);
  const [flag, setFlag] = useState(props.range.flag);
  const run = (event: FormEvent) => {
    event.preventDefault();
    props.onRun({ from: from ? startOf(from) : '', to: to ? startOf(to) : '', plan: plan.trim(), flag });
  };
  const preset = (range: { from: string; to: string }) => {
    setFrom(day(range.from));
    setTo(day(range.to));
    props.onRun({ ...range, plan: plan.trim(), flag });
  };
  return (
    <form className="panel" onSubmit={run} aria-label="Report range and filters">
      <div className="grid-2" style={{ gridTemplateColumns: 'repeat(auto-fit, minmax(180px, 1fr))' }}>
        <Field label="From (UTC)" error={fieldError(error, '/querystring/from')}>
          {(control) => <input {...control} type="date" value={from} onChange={(e) => setFrom(e.target.value)} />}
        </Field>
        <Field
          label="To (UTC, exclusive)"
          hint="At most 400 days after From."
          error={fieldError(error, '/querystring/to')}
        >
          {(control) => <input {...control} type="date" value={to} onChange={(e) => setTo(e.target.value)} />}
        </Field>
        <Field label="Plan" hint="Empty: every plan." error={fieldError(error, '/querystring/plan')}>
          {(control) => <input {...control} value={plan} onChange={(e) => setPlan(e.target.value)} />}
        </Field>
        <Field label="Flag" error={fieldError(error, '/querystring/flag')}>
          {(control) => (
            <select {...control} value={flag} onChange={(e) => setFlag(e.target.value)}>
              <option value="">Every customer</option>
              {flags.map((name) => (
                <option key={name} value={name}>
                  {name}
                </option>
              ))}
            </select>
          )}
        </Field>
      </div>
      <div className="row">
        <button type="submit" className="primary">
          Run report
        </button>
        <button type="button" onClick={() => preset(thisQuarter())}>
          This quarter
        </button>
        <button type="button" onClick={() => preset(lastQuarter())}>
          Last quarter
        </button>
      </div>
    </form>
  );
}

function StoredReportView(props: { id: string }): ReactElement {
  const { api } = useSession();
  const report = useQuery({
    queryKey: ['reports', 'stored', 'document', props.id],
    queryFn: () => api.get<StoredUsageRevenueReport>(`/v1/reports/${segment(props.id)}`),
    staleTime: Number.POSITIVE_INFINITY,
  });
  return (
    <div className="panel">
      <div className="spread">
        <h3 style={{ margin: 0 }}>Stored report {props.id}</h3>
        <Link to="/reports">Back to the report of now</Link>
      </div>
      {report.isPending ? (
        <Loading what="the stored report" />
      ) : report.isError ? (
        <ErrorAlert error={report.error} />
      ) : (
        <ReportView report={report.data} filename={`${props.id}.csv`} />
      )}
    </div>
  );
}

function StoredReports(): ReactElement {
  const [made, setMade] = useState('');
  const reports = useCursorList<StoredReport>({
    key: ['reports', 'stored', 'list'],
    path: '/v1/reports',
    query: { made: made || undefined },
  });
  return (
    <section aria-labelledby="stored-heading">
      <div className="spread">
        <h2 id="stored-heading">Stored reports</h2>
        <Field label="Made by">
          {(control) => (
            <select {...control} value={made} onChange={(e) => setMade(e.target.value)}>
              <option value="">Any</option>
              <option value="schedule">The schedule</option>
              <option value="api">The API or the console</option>
              <option value="cli">The command line</option>
            </select>
          )}
        </Field>
      </div>
      {reports.isPending ? (
        <Loading what="stored reports" />
      ) : reports.isError ? (
        <ErrorAlert error={reports.error} />
      ) : reports.rows.length === 0 ? (
        <p className="muted">
          No stored reports. "Store this report" keeps one; <code>KEYMASTER_REVENUE_REPORT_CRON</code> makes them on a
          schedule.
        </p>
      ) : (
        <>
          <table>
            <caption className="visually-hidden">Stored reports, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Range</th>
                <th scope="col">Filters</th>
                <th scope="col">Made</th>
                <th scope="col" className="num">
                  Customers
                </th>
                <th scope="col" className="num">
                  Size
                </th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {reports.rows.map((report) => (
                <tr key={report.id}>
                  <td>
                    {formatDate(report.from)} to {formatDate(report.to)}
                    <div className="small muted">{report.id}</div>
                  </td>
                  <td className="small">
                    {[
                      report.filters.plan && `plan ${report.filters.plan}`,
                      report.filters.flag && `flag ${report.filters.flag}`,
                    ]
                      .filter(Boolean)
                      .join(', ') || 'None'}
                  </td>
                  <td className="small">
                    {report.made === 'schedule' ? 'Schedule' : report.made === 'api' ? 'API' : 'Command line'},{' '}
                    {formatDateTime(report.created_at)}
                  </td>
                  <td className="num">{formatCount(report.customers)}</td>
                  <td className="num small">{bytes(report.size)}</td>
                  <td>
                    <div className="row">
                      <Link to={`/reports?stored=${segment(report.id)}`} aria-label={`Open ${report.id}`}>
                        Open
                      </Link>
                      <a href={report.url} download={`${report.id}.json`} aria-label={`Download ${report.id} as JSON`}>
                        JSON
                      </a>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <ShowMore list={reports} />
        </>
      )}
    </section>
  );
}
