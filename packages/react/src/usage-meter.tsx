import { type ReactNode, useId } from 'react';
import { formatDate, formatNumber } from './format.js';
import { useEntitlement } from './use-entitlement.js';

export interface UsageMeterProps {
  /** A metered or gauge feature (or one drawing from a credit pool: figures are the pool's). */
  feature: string;
  /** What the meter is called, e.g. "API calls"; the feature key by default. */
  label?: ReactNode;
  /** Appended to the figures, e.g. "calls". */
  unit?: string;
  /** For numbers and the reset date; the browser's by default. */
  locale?: string;
  /** Shown until the customer's entitlements have arrived (default: nothing). */
  loading?: ReactNode;
}

/**
 * The customer's usage of a metered or gauge feature: "250 / 1,000 calls", what is left, when the
 * period resets, and an accessible progress bar (`role="progressbar"` with `aria-valuenow` and
 * `aria-valuemax`). Unlimited features show usage without a bar; features the customer has no
 * figures for (boolean, config, not entitled) render nothing. Updates live. Unstyled: style the
 * `km-usage-meter*` classes; the bar's fill width is set inline.
 *
 * @example
 * <UsageMeter feature="api_calls" label="API calls" unit="calls" />
 */
export function UsageMeter({ feature, label, unit, locale, loading = null }: UsageMeterProps): ReactNode {
  const { decision, loading: isLoading } = useEntitlement(feature);
  const labelId = useId();
  if (isLoading) return loading;
  const { usage, limit, balance, unlimited, resets_at: resetsAt } = decision;
  if (usage === null || (limit === null && !unlimited)) return null;
  // An unlimited feature has usage but no maximum: figures without a bar.
  const max = unlimited ? null : limit;
  const suffix = unit ? ` ${unit}` : '';
  const used = formatNumber(usage, locale);
  const state = max === null ? 'unlimited' : decision.reason === 'limit_reached' || usage >= max ? 'full' : 'ok';
  const figures = max === null ? `${used}${suffix} (unlimited)` : `${used} / ${formatNumber(max, locale)}${suffix}`;
  return (
    <div className="km-usage-meter" data-feature={feature} data-state={state}>
      <span className="km-usage-meter-label" id={labelId}>
        {label ?? feature}
      </span>
      {max !== null && (
        <div
          className="km-usage-meter-track"
          role="progressbar"
          aria-labelledby={labelId}
          aria-valuemin={0}
          aria-valuemax={max}
          aria-valuenow={Math.min(usage, max)}
          aria-valuetext={`${used} of ${formatNumber(max, locale)}${suffix} used`}
        >
          <div
            className="km-usage-meter-fill"
            style={{ width: `${max > 0 ? Math.min(100, (usage / max) * 100) : 100}%` }}
          />
        </div>
      )}
      <span className="km-usage-meter-figures">{figures}</span>
      {balance !== null && max !== null && (
        <span className="km-usage-meter-balance">
          {formatNumber(balance, locale)}
          {suffix} left
        </span>
      )}
      {resetsAt !== null && (
        <span className="km-usage-meter-reset">
          Resets <time dateTime={resetsAt}>{formatDate(resetsAt, locale)}</time>
        </span>
      )}
    </div>
  );
}
