import { type ReactNode, useId } from 'react';
import { formatPrice } from './format.js';
import { useEntitlement } from './use-entitlement.js';
import { type UpgradePlan, useUpgrade } from './use-upgrade.js';

export interface PaywallProps {
  /** The feature key, e.g. `sso`. */
  feature: string;
  /** Units the content would use (default 1). */
  quantity?: number;
  /** Shown when the customer may use it. */
  children?: ReactNode;
  /** Shown until their entitlements have arrived (default: nothing). */
  loading?: ReactNode;
  /** The paywall's heading; by default one that fits the reason (no entitlement, limit reached). */
  title?: ReactNode;
  /** Adds an "Upgrade to <plan>" button to each suggested plan; your checkout starts here. */
  onUpgrade?: (plan: UpgradePlan) => void;
  /** Renders one suggested plan instead of the default name, price and button. */
  renderPlan?: (plan: UpgradePlan) => ReactNode;
  /** For prices; the browser's by default. */
  locale?: string;
}

/**
 * Shows `children` to a customer entitled to `feature`; otherwise a paywall listing the cheapest
 * published plans that would allow it (from `POST /v1/check`'s `upgrade`). Unstyled: style the
 * `km-paywall*` classes. It opens and closes live as entitlements change.
 *
 * @example
 * <Paywall feature="sso" onUpgrade={(plan) => startCheckout(plan.key)}>
 *   <SsoSettings />
 * </Paywall>
 */
export function Paywall(props: PaywallProps): ReactNode {
  const { feature, quantity, children, loading = null, title, onUpgrade, renderPlan, locale } = props;
  const state = useEntitlement(feature, { quantity });
  const upgrade = useUpgrade(feature, { quantity });
  const titleId = useId();
  if (state.loading) return loading;
  if (state.allowed) return children;
  const reason = state.decision.reason;
  const heading =
    title ??
    (reason === 'limit_reached'
      ? "You have reached your plan's limit."
      : upgrade.pending || upgrade.plans.length > 0
        ? 'Upgrade to use this feature.'
        : 'This feature is not available on your plan.');
  return (
    <section
      className="km-paywall"
      data-feature={feature}
      data-reason={reason}
      aria-labelledby={titleId}
      aria-busy={upgrade.pending}
    >
      <p className="km-paywall-title" id={titleId}>
        {heading}
      </p>
      {upgrade.plans.length > 0 && (
        <ul className="km-paywall-plans">
          {upgrade.plans.map((plan) => (
            <li className="km-paywall-plan" key={plan.key} data-plan={plan.key}>
              {renderPlan ? renderPlan(plan) : <PlanOffer plan={plan} onUpgrade={onUpgrade} locale={locale} />}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function PlanOffer(props: { plan: UpgradePlan; onUpgrade?: (plan: UpgradePlan) => void; locale?: string }): ReactNode {
  const { plan, onUpgrade, locale } = props;
  return (
    <>
      <span className="km-paywall-plan-name">{plan.name}</span>
      {plan.price !== null && <span className="km-paywall-plan-price">{formatPrice(plan.price, locale)}</span>}
      {onUpgrade && (
        <button type="button" className="km-paywall-upgrade" onClick={() => onUpgrade(plan)}>
          Upgrade to {plan.name}
        </button>
      )}
    </>
  );
}
