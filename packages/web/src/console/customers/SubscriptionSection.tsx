import type { HistoryEntry, Plan, Subscription } from '@keymaster/contract';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, type ReactElement, type ReactNode, useState } from 'react';
import { segment } from '../../api/client';
import { ConfirmDialog, FormDialog } from '../../ui/dialogs';
import { formatDateTime } from '../../ui/format';
import { ErrorAlert, Field, FormError, fieldError, Loading } from '../../ui/forms';
import { ShowMore, useCursorList } from '../cursor-list';
import { useApi, useSession } from '../session';
import { planLabel, StatusBadge } from './parts';
import {
  customerKeys,
  customerPath,
  endedStatuses,
  subscribablePlans,
  useLatestSubscription,
  usePlans,
} from './queries';

/**
 * The customer's subscription: a form to subscribe them when they have none (or it ended), else
 * its status, dates and scheduled changes, the lifecycle actions the API offers, and its timeline.
 */
export function SubscriptionSection(props: { customerId: string }): ReactElement {
  const { customerId } = props;
  const subscription = useLatestSubscription(customerId);
  const plans = usePlans();
  const { can } = useSession();
  const planOf = (key: string) => plans.data?.plans.find((plan) => plan.key === key);

  let body: ReactNode;
  if (subscription.isPending) body = <Loading what="the subscription" />;
  else if (subscription.isError) body = <ErrorAlert error={subscription.error} />;
  else {
    const sub = subscription.data;
    const ended = !sub || endedStatuses.includes(sub.status);
    body = (
      <>
        {sub ? <SubscriptionDetails subscription={sub} planOf={planOf} /> : <p>No subscription.</p>}
        {sub && !ended && can('customers:write') ? (
          <SubscriptionActions subscription={sub} plans={plans.data?.plans ?? []} />
        ) : null}
        {ended && can('customers:write') ? (
          <SubscribeForm customerId={customerId} plans={plans.data?.plans ?? []} resubscribe={sub !== null} />
        ) : null}
        {sub ? <Timeline customerId={customerId} subscription={sub} /> : null}
      </>
    );
  }
  return (
    <section className="panel" aria-labelledby="subscription-heading">
      <h2 id="subscription-heading" style={{ marginTop: 0 }}>
        Subscription
      </h2>
      {body}
    </section>
  );
}

function SubscriptionDetails(props: {
  subscription: Subscription;
  planOf: (key: string) => Plan | undefined;
}): ReactElement {
  const s = props.subscription;
  const rows: [string, ReactNode][] = [
    ['Plan', `${planLabel(props.planOf(s.plan), s.plan)} (version ${s.plan_version})`],
    ['Status', <StatusBadge key="status" status={s.status} />],
    ['Current period', `${formatDateTime(s.current_period_start)} to ${formatDateTime(s.current_period_end)}`],
  ];
  if (s.trial_end) rows.push(['Trial ends', `${formatDateTime(s.trial_end)} (then ${s.on_trial_end})`]);
  if (s.cancel_at) rows.push(['Cancels at', formatDateTime(s.cancel_at)]);
  if (s.canceled_at) rows.push(['Canceled', formatDateTime(s.canceled_at)]);
  if (s.ends_at) rows.push(['Contract ends', `${formatDateTime(s.ends_at)} (then ${s.on_ends_at})`]);
  if (s.grace_ends_at) rows.push(['Grace period ends', formatDateTime(s.grace_ends_at)]);
  if (s.resumes_at) rows.push(['Resumes', formatDateTime(s.resumes_at)]);
  if (s.scheduled_change) {
    const change = s.scheduled_change;
    rows.push([
      'Scheduled change',
      `to ${planLabel(props.planOf(change.plan), change.plan)} (version ${change.plan_version}) at ${formatDateTime(change.at)}`,
    ]);
  }
  if (s.add_ons.length > 0) {
    rows.push(['Add-ons', s.add_ons.map((a) => `${props.planOf(a.plan)?.name ?? a.plan} × ${a.quantity}`).join(', ')]);
  }
  rows.push(['Source', s.source], ['Subscription id', <code key="id">{s.id}</code>]);
  return (
    <table aria-label="Subscription details">
      <tbody>
        {rows.map(([label, value]) => (
          <tr key={label}>
            <th scope="row" style={{ width: '12rem' }}>
              {label}
            </th>
            <td>{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function SubscribeForm(props: { customerId: string; plans: readonly Plan[]; resubscribe: boolean }): ReactElement {
  const api = useApi();
  const queries = useQueryClient();
  const choices = subscribablePlans(props.plans);
  const [plan, setPlan] = useState('');
  const [trialDays, setTrialDays] = useState('');
  const subscribe = useMutation({
    mutationFn: () =>
      api.post<Subscription>(customerPath(props.customerId, 'subscriptions'), {
        plan,
        ...(trialDays !== '' ? { trial_days: Number(trialDays) } : {}),
      }),
    onSuccess: () => queries.invalidateQueries({ queryKey: customerKeys.of(props.customerId) }),
  });
  function onSubmit(event: FormEvent): void {
    event.preventDefault();
    subscribe.mutate();
  }
  return (
    <form onSubmit={onSubmit} aria-labelledby="subscribe-heading">
      <h3 id="subscribe-heading">{props.resubscribe ? 'Subscribe again' : 'Subscribe to a plan'}</h3>
      <div className="row" style={{ alignItems: 'flex-start' }}>
        <Field label="Plan" error={fieldError(subscribe.error, '/plan')}>
          {(control) => (
            <select {...control} value={plan} onChange={(event) => setPlan(event.target.value)} required>
              <option value="">Choose a plan…</option>
              {choices.map((p) => (
                <option key={p.key} value={p.key}>
                  {planLabel(p, p.key)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label="Trial days"
          hint="Blank: the plan's own trial."
          error={fieldError(subscribe.error, '/trial_days')}
        >
          {(control) => (
            <input
              {...control}
              type="number"
              min={0}
              max={730}
              value={trialDays}
              onChange={(event) => setTrialDays(event.target.value)}
              style={{ width: '8rem' }}
            />
          )}
        </Field>
      </div>
      <FormError error={subscribe.error} shown={['/plan', '/trial_days']} />
      <button type="submit" className="primary" disabled={subscribe.isPending || plan === ''}>
        Subscribe
      </button>
    </form>
  );
}

/** The lifecycle transitions, each a POST on the subscription that answers it as it now stands. */
function SubscriptionActions(props: { subscription: Subscription; plans: readonly Plan[] }): ReactElement {
  const s = props.subscription;
  const api = useApi();
  const queries = useQueryClient();
  const transition = async (path: string, body: object = {}) => {
    await api.post<Subscription>(`/v1/subscriptions/${segment(s.id)}/${path}`, body);
    await queries.invalidateQueries({ queryKey: customerKeys.of(s.customer) });
  };
  const action = (input: {
    label: string;
    title: string;
    description: string;
    path: string;
    body?: object;
    danger?: boolean;
  }) => (
    <ConfirmDialog
      trigger={
        <button type="button" className={input.danger ? 'danger' : undefined}>
          {input.label}
        </button>
      }
      title={input.title}
      description={<p>{input.description}</p>}
      confirmLabel={input.label}
      danger={input.danger ?? false}
      onConfirm={() => transition(input.path, input.body)}
    />
  );
  const periodEnd = formatDateTime(s.current_period_end);
  return (
    <div className="row" style={{ margin: '0.75rem 0' }}>
      <ChangePlanDialog subscription={s} plans={props.plans} />
      {s.cancel_at
        ? action({
            label: 'Undo cancellation',
            title: 'Keep the subscription?',
            description: `The cancellation at ${formatDateTime(s.cancel_at)} is taken back; the subscription renews as before.`,
            path: 'undo-cancel',
          })
        : action({
            label: 'Cancel at period end',
            title: 'Cancel at the end of the period?',
            description: `Access continues until ${periodEnd}, then ends. You can undo this until then.`,
            path: 'cancel',
            body: { when: 'period_end' },
          })}
      {action({
        label: 'Cancel now',
        title: 'Cancel now?',
        description: 'Access to the plan ends at once. This cannot be undone; the customer can be subscribed again.',
        path: 'cancel',
        body: { when: 'now' },
        danger: true,
      })}
      {s.status === 'trialing' || s.status === 'past_due'
        ? action({
            label: 'Mark as paid',
            title: 'Mark as paid?',
            description:
              s.status === 'trialing'
                ? 'The trial converts to a paid subscription now.'
                : 'The overdue payment is settled; the subscription is active again.',
            path: 'activate',
          })
        : null}
      {s.status === 'paused'
        ? action({
            label: 'Resume',
            title: 'Resume the subscription?',
            description: 'Access returns now, and a new billing period starts now.',
            path: 'resume',
          })
        : action({
            label: 'Pause',
            title: 'Pause the subscription?',
            description: 'Access stops (or falls back to the fallback plan) until you resume it.',
            path: 'pause',
          })}
    </div>
  );
}

function ChangePlanDialog(props: { subscription: Subscription; plans: readonly Plan[] }): ReactElement {
  const s = props.subscription;
  const api = useApi();
  const queries = useQueryClient();
  const choices = subscribablePlans(props.plans).filter((plan) => plan.key !== s.plan);
  const [plan, setPlan] = useState('');
  const [when, setWhen] = useState('');
  const change = useMutation({
    mutationFn: () =>
      api.post<Subscription>(`/v1/subscriptions/${segment(s.id)}/change`, { plan, ...(when ? { when } : {}) }),
    onSuccess: () => queries.invalidateQueries({ queryKey: customerKeys.of(s.customer) }),
  });
  return (
    <FormDialog
      trigger={<button type="button">Change plan</button>}
      title="Change plan"
      description="Upgrades apply now and keep the period's usage; downgrades wait for the period end unless you say now."
    >
      {(close) => (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            change.mutate(undefined, { onSuccess: close });
          }}
        >
          <Field label="New plan" error={fieldError(change.error, '/plan')}>
            {(control) => (
              <select {...control} value={plan} onChange={(event) => setPlan(event.target.value)} required>
                <option value="">Choose a plan…</option>
                {choices.map((p) => (
                  <option key={p.key} value={p.key}>
                    {planLabel(p, p.key)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="When" error={fieldError(change.error, '/when')}>
            {(control) => (
              <select {...control} value={when} onChange={(event) => setWhen(event.target.value)}>
                <option value="">Default (upgrade now, downgrade at period end)</option>
                <option value="now">Now</option>
                <option value="period_end">At the end of the period</option>
              </select>
            )}
          </Field>
          <FormError error={change.error} shown={['/plan', '/when']} />
          <div className="actions">
            <button type="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="primary" disabled={change.isPending || plan === ''}>
              Change plan
            </button>
          </div>
        </form>
      )}
    </FormDialog>
  );
}

/** What changed between two states of a subscription, in a few words. */
function changes(entry: HistoryEntry): string {
  const { before, after } = entry;
  if (!before) return `${after.plan} (version ${after.plan_version}), ${after.status.replace('_', ' ')}`;
  const parts: string[] = [];
  if (before.plan !== after.plan || before.plan_version !== after.plan_version) {
    parts.push(`plan ${before.plan} v${before.plan_version} → ${after.plan} v${after.plan_version}`);
  }
  if (before.status !== after.status) parts.push(`status ${before.status} → ${after.status}`);
  if (before.cancel_at !== after.cancel_at) {
    parts.push(after.cancel_at ? `cancels at ${formatDateTime(after.cancel_at)}` : 'cancellation taken back');
  }
  if (before.current_period_end !== after.current_period_end) {
    parts.push(`period ends ${formatDateTime(after.current_period_end)}`);
  }
  if (JSON.stringify(before.scheduled_change) !== JSON.stringify(after.scheduled_change)) {
    parts.push(
      after.scheduled_change ? `change to ${after.scheduled_change.plan} scheduled` : 'scheduled change dropped',
    );
  }
  return parts.join('; ') || 'no visible change';
}

function Timeline(props: { customerId: string; subscription: Subscription }): ReactElement {
  const history = useCursorList<HistoryEntry>({
    key: customerKeys.history(props.customerId, props.subscription.id),
    path: `/v1/subscriptions/${segment(props.subscription.id)}/history`,
    query: { limit: 10 },
  });
  return (
    <>
      <h3 id="timeline-heading">Timeline</h3>
      {history.isPending ? (
        <Loading what="the timeline" />
      ) : history.isError ? (
        <ErrorAlert error={history.error} />
      ) : (
        <>
          <ol aria-labelledby="timeline-heading" className="small" style={{ paddingLeft: '1.2rem' }}>
            {history.data.pages
              .flatMap((page) => page.data)
              .map((entry) => (
                <li
                  key={`${entry.at}-${entry.action}-${entry.after.updated_at}-${entry.after.status}`}
                  style={{ marginBottom: '0.35rem' }}
                >
                  <strong>{entry.action.replaceAll('_', ' ')}</strong> — {formatDateTime(entry.at)} by{' '}
                  <code>{entry.actor}</code>
                  <div className="muted">
                    {changes(entry)}
                    {entry.reason ? ` — “${entry.reason}”` : ''}
                  </div>
                </li>
              ))}
          </ol>
          <ShowMore list={history} label="Show older" />
        </>
      )}
    </>
  );
}
