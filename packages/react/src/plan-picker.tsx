import { type ReactNode, useEffect, useId, useState } from 'react';
import {
  billingOf,
  liveSubscription,
  type PortalChangePreview,
  type PortalClient,
  type PortalPlan,
  type PortalSubscription,
  type PortalView,
  type PortalWhen,
  usePortalView,
} from './portal-client.js';
import { PortalDialog } from './portal-dialog.js';
import {
  type PortalFormat,
  portalDate,
  portalFeatureName,
  portalFeatureTerms,
  portalNumber,
  portalPrice,
} from './portal-format.js';

export interface PlanPickerProps extends PortalFormat {
  client: PortalClient;
  /** After a change is confirmed (and the view refreshed): the subscription as the server answered it. */
  onChanged?: (subscription: PortalSubscription, plan: PortalPlan) => void;
  /** The level of each plan's name heading (default 3: under your section's h2). */
  headingLevel?: 2 | 3 | 4 | 5 | 6;
  /** Shown until the plans arrive (default "Loading plans…"). */
  loading?: ReactNode;
  /** Goes to Stripe (Checkout, or its billing portal) when Stripe bills the plans; `window.location.assign` by default. */
  navigate?: (url: string) => void;
}

const verbOf = (plan: PortalPlan) => (plan.relation === 'downgrade' ? 'Downgrade' : 'Upgrade');

/**
 * The published base plans side by side (cheapest first): name, price, description and what
 * each includes; the customer's plan marked "Current plan", the others with an
 * "Upgrade to …" / "Downgrade to …" button. A button opens a confirmation step showing what
 * the change would do now and at the end of the period (`POST /v1/portal/preview`), with the
 * choice of when, and a "Confirm" button that makes it (`POST /v1/portal/change`). Upgrades
 * take effect now and downgrades at period end unless the customer chooses otherwise.
 * When Stripe bills the plans (`view.billing` is `stripe`), a customer without a subscription
 * goes to Stripe Checkout from the button instead, and one Stripe bills gets a "Change plan in
 * Stripe" button (its billing portal); a plan set by a contract offers no change.
 * Unstyled: `km-plan*` classes plus `plans` / `plan-card` / `current` / `price`.
 *
 * @example
 * <PlanPicker client={client} onChanged={(subscription) => console.log(subscription.plan)} />
 */
export function PlanPicker({
  client,
  onChanged,
  headingLevel = 3,
  loading = <p className="km-plan-picker-loading">Loading plans…</p>,
  locale,
  timeZone,
  navigate,
}: PlanPickerProps): ReactNode {
  const { view, error, loading: isLoading } = usePortalView(client);
  const [chosen, setChosen] = useState<PortalPlan | null>(null);
  const [message, setMessage] = useState('');
  /** A trip to Stripe being asked for, and why the last one could not be made. */
  const [redirecting, setRedirecting] = useState(false);
  const [redirectError, setRedirectError] = useState<Error | null>(null);
  const format: PortalFormat = { locale, timeZone };
  if (view === null) {
    if (isLoading) return loading;
    return (
      <p className="km-plan-picker-error" role="alert">
        The plans could not be loaded: {error?.message}
      </p>
    );
  }
  const Heading = `h${headingLevel}` as 'h3';
  const scheduled = view.subscription?.scheduled_change ?? null;
  const billing = billingOf(view);
  /** Stripe bills the customer's subscription: changes are made in its billing portal. */
  const stripeBills = billing === 'stripe' && liveSubscription(view) !== null;

  async function toStripe(session: () => Promise<{ url: string }>): Promise<void> {
    setRedirecting(true);
    setRedirectError(null);
    setMessage('');
    try {
      const { url } = await session();
      (navigate ?? ((to: string) => window.location.assign(to)))(url);
    } catch (failure) {
      setRedirectError(toError(failure));
    } finally {
      setRedirecting(false);
    }
  }

  function done(subscription: PortalSubscription, plan: PortalPlan): void {
    setChosen(null);
    const change = subscription.scheduled_change;
    setMessage(
      subscription.plan === plan.key
        ? `You are now on ${plan.name}.`
        : change?.plan === plan.key
          ? `Your plan changes to ${plan.name} on ${portalDate(change.at, format)}.`
          : `Your plan change to ${plan.name} was made.`,
    );
    onChanged?.(subscription, plan);
  }

  return (
    <div className="km-plan-picker">
      {view.plans.length === 0 ? <p className="km-plan-picker-empty">No plans are offered.</p> : null}
      <ul className="plans km-plans" aria-label="Plans">
        {view.plans.map((plan) => {
          const current = plan.relation === 'current';
          return (
            <li
              key={plan.key}
              className={`plan-card km-plan-card${current ? ' current' : ''}`}
              data-plan={plan.key}
              data-relation={plan.relation}
            >
              <Heading className="km-plan-name">{plan.name}</Heading>
              <p className="price km-plan-price">{plan.price ? portalPrice(plan.price, format) : 'No list price'}</p>
              {plan.description ? <p className="km-plan-description">{plan.description}</p> : null}
              {plan.features.length > 0 ? (
                <ul className="km-plan-features" aria-label={`${plan.name} includes`}>
                  {plan.features.map((feature) => (
                    <li key={feature.feature}>{portalFeatureTerms(feature, format)}</li>
                  ))}
                </ul>
              ) : null}
              {scheduled?.plan === plan.key ? (
                <p className="km-plan-scheduled">Starts on {portalDate(scheduled.at, format)}</p>
              ) : null}
              {current ? (
                <p className="km-plan-current">
                  <strong className="badge ok">Current plan</strong>
                </p>
              ) : billing === 'contract' || stripeBills ? null : (
                <button
                  type="button"
                  className="primary km-plan-choose"
                  disabled={redirecting}
                  onClick={() => {
                    setMessage('');
                    if (billing === 'stripe') void toStripe(() => client.checkout(plan.key));
                    else setChosen(plan);
                  }}
                >
                  {`${verbOf(plan)} to ${plan.name}`}
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {billing === 'contract' ? (
        <p className="km-plan-picker-note">Your plan is set by your contract: ask your account manager to change it.</p>
      ) : null}
      {stripeBills ? (
        <p className="km-plan-picker-note">
          Your subscription is billed through Stripe.{' '}
          <button
            type="button"
            className="km-plan-stripe"
            disabled={redirecting}
            aria-busy={redirecting || undefined}
            onClick={() => void toStripe(() => client.billingPortal())}
          >
            Change plan in Stripe
          </button>
        </p>
      ) : null}
      {redirectError ? (
        <p className="km-plan-error alert error" role="alert">
          {redirectError.message}
        </p>
      ) : null}
      <p className="km-plan-picker-status" role="status">
        {message}
      </p>
      {chosen ? (
        <ChangeStep
          key={chosen.key}
          client={client}
          view={view}
          plan={chosen}
          format={format}
          onDone={(subscription) => done(subscription, chosen)}
          onDismiss={() => setChosen(null)}
        />
      ) : null}
    </div>
  );
}

const toError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/** The confirmation step: the preview of the change, the choice of when, and "Confirm". */
function ChangeStep(props: {
  client: PortalClient;
  view: PortalView;
  plan: PortalPlan;
  format: PortalFormat;
  onDone: (subscription: PortalSubscription) => void;
  onDismiss: () => void;
}): ReactNode {
  const { client, view, plan, format, onDone, onDismiss } = props;
  const [when, setWhen] = useState<PortalWhen | undefined>(undefined);
  const [preview, setPreview] = useState<{
    when: PortalWhen | undefined;
    value: PortalChangePreview | null;
    error: Error | null;
  } | null>(null);
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<Error | null>(null);
  const radios = useId();

  useEffect(() => {
    let live = true;
    client.preview(plan.key, when).then(
      (value) => live && setPreview({ when, value, error: null }),
      (error: unknown) => live && setPreview({ when, value: null, error: toError(error) }),
    );
    return () => {
      live = false;
    };
  }, [client, plan.key, when]);

  const shown = preview !== null && preview.when === when ? preview : null;
  const effective = when ?? shown?.value?.when;
  const subscription = liveSubscription(view);

  async function confirm(): Promise<void> {
    setBusy(true);
    setFailure(null);
    try {
      onDone(await client.change(plan.key, effective));
    } catch (error) {
      setFailure(toError(error));
      setBusy(false);
    }
  }

  return (
    <PortalDialog
      title={`${verbOf(plan)} to ${plan.name}`}
      className="km-plan-dialog"
      busy={busy}
      onDismiss={onDismiss}
      actions={
        <>
          <button type="button" onClick={onDismiss} disabled={busy}>
            {subscription ? 'Keep current plan' : 'Not now'}
          </button>
          <button type="button" className="primary" disabled={busy || !shown?.value} onClick={() => void confirm()}>
            Confirm
          </button>
        </>
      }
    >
      {subscription ? (
        <fieldset className="km-plan-when" disabled={busy}>
          <legend>When</legend>
          <label>
            <input
              type="radio"
              name={radios}
              value="now"
              checked={effective === 'now'}
              onChange={() => setWhen('now')}
            />{' '}
            Now
          </label>{' '}
          <label>
            <input
              type="radio"
              name={radios}
              value="period_end"
              checked={effective === 'period_end'}
              onChange={() => setWhen('period_end')}
            />{' '}
            At the end of the period ({portalDate(subscription.current_period_end, format)})
          </label>
        </fieldset>
      ) : null}
      {shown === null ? (
        <p className="km-plan-preview-loading" aria-live="polite">
          Loading what changes…
        </p>
      ) : shown.value === null ? (
        <p className="km-plan-error alert error" role="alert">
          {shown.error?.message}
        </p>
      ) : (
        <PreviewDetails view={view} plan={plan} preview={shown.value} format={format} />
      )}
      {failure ? (
        <p className="km-plan-error alert error" role="alert">
          {failure.message}
        </p>
      ) : null}
    </PortalDialog>
  );
}

function PreviewDetails(props: {
  view: PortalView;
  plan: PortalPlan;
  preview: PortalChangePreview;
  format: PortalFormat;
}): ReactNode {
  const { view, plan, preview, format } = props;
  const name = (feature: string) => portalFeatureName(view, feature);
  const terms = (t: { enabled: boolean; limit: number | null }) =>
    !t.enabled ? 'not included' : t.limit === null ? 'unlimited' : portalNumber(t.limit, format);
  const subscription = liveSubscription(view);
  const currentName = view.plans.find((p) => p.relation === 'current')?.name ?? subscription?.plan ?? null;
  const price = (p: PortalChangePreview['price_now']) => (p ? portalPrice(p, format) : 'no list price');

  const effects: string[] = [
    currentName ? `Plan: ${currentName} → ${plan.name}` : `Plan: ${plan.name}`,
    ...(preview.price_after || preview.price_now
      ? [
          subscription && preview.price_now
            ? `Price: ${price(preview.price_now)} → ${price(preview.price_after)}`
            : `Price: ${price(preview.price_after)}`,
        ]
      : []),
    ...preview.gains.map((feature) => `You get ${name(feature)}`),
    ...preview.losses.map((feature) => `You lose ${name(feature)}`),
    ...preview.changes.map((c) => `${name(c.feature)}: ${terms(c.from)} → ${terms(c.to)}`),
  ];
  const list = (
    <ul className="km-plan-effects">
      {effects.map((effect) => (
        <li key={effect}>{effect}</li>
      ))}
    </ul>
  );
  const periodEnd = subscription ? portalDate(subscription.current_period_end, format) : null;

  return (
    <div className="km-plan-preview" data-when={preview.when}>
      {preview.when === 'now' ? (
        <>
          <h3>Changes now</h3>
          {list}
          {subscription && periodEnd ? (
            <>
              <h3>At the end of the period ({periodEnd})</h3>
              <p>
                {subscription.cancel_at
                  ? `Your subscription ends on ${portalDate(subscription.cancel_at, format)}, as you canceled it.`
                  : `Your subscription renews on ${plan.name}${preview.price_after ? ` at ${price(preview.price_after)}` : ''}.`}
              </p>
            </>
          ) : null}
        </>
      ) : (
        <>
          <h3>Changes now</h3>
          <p>Nothing changes now{currentName ? `: you keep ${currentName} until then` : ''}.</p>
          <h3>At the end of the period ({portalDate(preview.at, format)})</h3>
          {list}
        </>
      )}
      {preview.over_limit.length > 0 ? (
        <div className="km-plan-over-limit alert error">
          <p>Your usage is already over {plan.name}&rsquo;s limits:</p>
          <ul>
            {preview.over_limit.map((over) => (
              <li key={over.feature}>
                {name(over.feature)}: {portalNumber(over.usage, format)} used, {plan.name} allows{' '}
                {portalNumber(over.limit, format)}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </div>
  );
}
