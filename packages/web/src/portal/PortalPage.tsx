import { useMutation } from '@tanstack/react-query';
import { type ReactElement, useEffect, useState } from 'react';
import { PlanPicker } from '../../../react/src/plan-picker.js';
import {
  billingOf,
  liveSubscription,
  type PortalAddOn,
  type PortalClient,
  PortalError,
  type PortalSubscription,
  type PortalView,
  usePortalView,
} from '../../../react/src/portal-client.js';
import { PortalDialog } from '../../../react/src/portal-dialog.js';
import { portalFeatureTerms } from '../../../react/src/portal-format.js';
import { UsageMeters } from '../../../react/src/usage-meters.js';
import { daysUntil, formatDate, formatDateTime, formatMoney } from '../ui/format';
import { ErrorAlert, FormError, Loading } from '../ui/forms';
import { PortalExpired } from './PortalExpired';
import { forgetSession, remember, remembered } from './session';

/** Dates, numbers and prices as the rest of the UI writes them: en-US, in UTC. */
const format = { locale: 'en-US', timeZone: 'UTC' } as const;

/** The portal for one customer, from the view its client keeps fresh. */
export function PortalPage(props: { client: PortalClient }): ReactElement {
  const { client } = props;
  const { view, error, loading } = usePortalView(client);
  const expired = error instanceof PortalError && error.expired;

  useEffect(() => {
    if (expired) forgetSession();
    else if (view) remember({ return_url: view.return_url });
  }, [expired, view]);

  if (expired) return <PortalExpired returnUrl={view?.return_url ?? remembered().return_url ?? null} />;
  if (view === null) {
    return (
      <main className="portal">
        <h1>Your plan</h1>
        {loading ? (
          <Loading what="your plan" />
        ) : (
          <>
            <ErrorAlert title="Your plan could not be loaded" error={error} />
            <button type="button" onClick={() => void client.refresh()}>
              Try again
            </button>
          </>
        )}
      </main>
    );
  }

  return (
    <main className="portal">
      <header className="spread portal-header">
        <div>
          <h1>Your plan</h1>
          <p className="muted">{view.customer.name ?? view.customer.id}</p>
        </div>
        {view.return_url ? (
          <a className="button" href={view.return_url}>
            Back
          </a>
        ) : null}
      </header>
      {error ? <ErrorAlert title="Could not refresh (showing what was last loaded)" error={error} /> : null}

      <section className="panel" aria-labelledby="portal-subscription">
        <h2 id="portal-subscription">Subscription</h2>
        <SubscriptionSummary client={client} view={view} />
      </section>

      <section className="panel" aria-labelledby="portal-usage">
        <h2 id="portal-usage">Usage</h2>
        <UsageMeters client={client} {...format} />
      </section>

      <section className="panel" aria-labelledby="portal-plans">
        <h2 id="portal-plans">Plans</h2>
        <PlanPicker client={client} headingLevel={3} {...format} />
      </section>

      {view.add_ons.length > 0 ? (
        <section className="panel" aria-labelledby="portal-add-ons">
          <h2 id="portal-add-ons">Add-ons</h2>
          <AddOns client={client} view={view} />
        </section>
      ) : null}

      <section className="panel" aria-labelledby="portal-notifications">
        <h2 id="portal-notifications">Notifications</h2>
        <Notifications view={view} />
      </section>
    </main>
  );
}

const statusLabels: Record<string, { label: string; tone: string }> = {
  trialing: { label: 'Trial', tone: 'warn' },
  active: { label: 'Active', tone: 'ok' },
  past_due: { label: 'Payment past due', tone: 'danger' },
  paused: { label: 'Paused', tone: 'warn' },
  canceled: { label: 'Canceled', tone: 'danger' },
  expired: { label: 'Expired', tone: 'danger' },
};

const planName = (view: PortalView, key: string) => view.plans.find((plan) => plan.key === key)?.name ?? key;

function SubscriptionSummary(props: { client: PortalClient; view: PortalView }): ReactElement {
  const { client, view } = props;
  const [confirming, setConfirming] = useState(false);
  const [message, setMessage] = useState('');
  const cancel = useMutation({
    mutationFn: () => client.cancel(),
    onSuccess: (subscription: PortalSubscription) => {
      setConfirming(false);
      setMessage(`Your subscription is canceled: it ends on ${formatDate(subscription.cancel_at)}.`);
    },
  });
  const undo = useMutation({
    mutationFn: () => client.undoCancel(),
    onSuccess: () => setMessage('Your subscription continues: the cancellation is undone.'),
  });
  const stripe = useMutation({
    mutationFn: () => client.billingPortal(),
    onSuccess: ({ url }) => window.location.assign(url),
  });
  const subscription = view.subscription;
  const live = liveSubscription(view);
  const billing = billingOf(view);
  if (subscription === null) {
    return <p>You have no subscription yet: choose a plan below.</p>;
  }
  const status = statusLabels[subscription.status] ?? { label: subscription.status, tone: '' };
  const name = planName(view, subscription.plan);
  const trialDays = subscription.trial_end ? daysUntil(subscription.trial_end) : 0;

  return (
    <div className="portal-subscription">
      <p className="row">
        <strong className="portal-plan-name">{name}</strong>
        <span className={`badge ${status.tone}`}>{status.label}</span>
      </p>
      {subscription.status === 'trialing' && subscription.trial_end ? (
        <p>
          Trial: {trialDays} {trialDays === 1 ? 'day' : 'days'} left (it ends on {formatDate(subscription.trial_end)}).
        </p>
      ) : null}
      {live?.cancel_at ? (
        <p className="alert info">
          Canceled: your subscription ends on {formatDate(live.cancel_at)}. You keep {name} until then.
        </p>
      ) : null}
      {live?.scheduled_change ? (
        <p>
          Changes to {planName(view, live.scheduled_change.plan)} on {formatDate(live.scheduled_change.at)}.
        </p>
      ) : null}
      {live ? (
        <p className="muted">
          Current period: {formatDate(live.current_period_start)} to {formatDate(live.current_period_end)}.
        </p>
      ) : subscription.ends_at ? (
        <p>Ended on {formatDate(subscription.ends_at)}: choose a plan below to subscribe again.</p>
      ) : (
        <p>Choose a plan below to subscribe again.</p>
      )}
      {live && billing === 'contract' ? (
        <p>Your subscription is set by your contract: ask your account manager to change it.</p>
      ) : null}
      {live && billing === 'stripe' ? (
        <div className="row">
          <span>Billed through Stripe: change your plan, add-ons or payment method, or cancel, there.</span>
          <button type="button" disabled={stripe.isPending} onClick={() => stripe.mutate()}>
            Manage billing in Stripe
          </button>
        </div>
      ) : null}
      <FormError error={stripe.error} />
      {live && billing === 'keymaster' ? (
        <div className="row">
          {live.cancel_at ? (
            <button type="button" className="primary" disabled={undo.isPending} onClick={() => undo.mutate()}>
              Undo cancellation
            </button>
          ) : (
            <button
              type="button"
              onClick={() => {
                cancel.reset();
                setMessage('');
                setConfirming(true);
              }}
            >
              Cancel subscription
            </button>
          )}
        </div>
      ) : null}
      <FormError error={undo.error} />
      <p role="status" className="portal-status">
        {message}
      </p>
      {confirming && live ? (
        <PortalDialog
          title="Cancel your subscription?"
          busy={cancel.isPending}
          onDismiss={() => setConfirming(false)}
          actions={
            <>
              <button type="button" disabled={cancel.isPending} onClick={() => setConfirming(false)}>
                Keep subscription
              </button>
              <button type="button" className="danger" disabled={cancel.isPending} onClick={() => cancel.mutate()}>
                Confirm cancellation
              </button>
            </>
          }
        >
          <p>
            You keep {name} until the end of the current period, {formatDate(live.current_period_end)}; then your
            subscription ends. You can undo this until then.
          </p>
          <FormError error={cancel.error} />
        </PortalDialog>
      ) : null}
    </div>
  );
}

function AddOns(props: { client: PortalClient; view: PortalView }): ReactElement {
  const { client, view } = props;
  const billing = billingOf(view);
  const live = billing === 'keymaster' ? liveSubscription(view) : null;
  const quantity = useMutation({
    mutationFn: (input: { addOn: PortalAddOn; quantity: number }) => client.setAddOn(input.addOn.key, input.quantity),
  });
  return (
    <>
      {live ? null : (
        <p className="muted">
          {billing === 'contract'
            ? 'Add-ons are set by your contract.'
            : billing === 'stripe' && liveSubscription(view)
              ? 'Add-ons are changed in Stripe (Manage billing in Stripe).'
              : 'Add-ons come with a subscription: choose a plan first.'}
        </p>
      )}
      <ul className="portal-add-ons">
        {view.add_ons.map((addOn) => (
          <li key={addOn.key} className="spread portal-add-on" data-add-on={addOn.key}>
            <div>
              <strong>{addOn.name}</strong>
              {addOn.price ? (
                <span className="muted">
                  {' '}
                  {formatMoney(addOn.price.amount, addOn.price.currency)}/{addOn.price.interval} each
                </span>
              ) : null}
              {addOn.description ? <p className="small muted">{addOn.description}</p> : null}
              {addOn.features.length > 0 ? (
                <p className="small">
                  Each adds {addOn.features.map((feature) => portalFeatureTerms(feature, format)).join(', ')}
                </p>
              ) : null}
            </div>
            <fieldset className="row portal-quantity-group" aria-label={`${addOn.name} quantity`}>
              <button
                type="button"
                aria-label={`Remove one ${addOn.name}`}
                disabled={!live || addOn.quantity === 0 || quantity.isPending}
                onClick={() => quantity.mutate({ addOn, quantity: addOn.quantity - 1 })}
              >
                −
              </button>
              <output className="portal-quantity" aria-label={`${addOn.name} quantity`}>
                {addOn.quantity}
              </output>
              <button
                type="button"
                aria-label={`Add one ${addOn.name}`}
                disabled={!live || quantity.isPending}
                onClick={() => quantity.mutate({ addOn, quantity: addOn.quantity + 1 })}
              >
                +
              </button>
            </fieldset>
          </li>
        ))}
      </ul>
      <FormError error={quantity.error} />
    </>
  );
}

function Notifications(props: { view: PortalView }): ReactElement {
  const { notifications } = props.view;
  if (notifications.length === 0) return <p className="muted">No notifications.</p>;
  return (
    <ul className="portal-notifications">
      {notifications.map((notification) => (
        <li key={notification.id}>
          <div className="spread">
            <strong>{notification.title}</strong>
            <time className="small muted" dateTime={notification.created_at}>
              {formatDateTime(notification.created_at)}
            </time>
          </div>
          <p>{notification.body}</p>
        </li>
      ))}
    </ul>
  );
}
