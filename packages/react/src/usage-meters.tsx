import { type ReactNode, useId } from 'react';
import { type PortalClient, type PortalEntitlement, usePortalView } from './portal-client.js';
import { type PortalFormat, portalDate, portalFeatureName, portalNumber } from './portal-format.js';

export interface UsageMetersProps extends PortalFormat {
  client: PortalClient;
  /** Only these features, in this order (default: every feature with usage figures). */
  features?: string[];
  /** Shown until the view arrives (default "Loading usage…"). */
  loading?: ReactNode;
  /** Shown when no feature has figures (default "Nothing here is metered."). */
  empty?: ReactNode;
}

/** Features with a usage figure and a limit (or unlimited): metered and gauge features, credit pools. */
const hasFigures = (entitlement: PortalEntitlement) =>
  entitlement.usage !== null && (entitlement.limit !== null || entitlement.unlimited);

/**
 * The customer's usage of every metered or gauge feature, from the portal view: "250 / 1,000",
 * a `role="progressbar"` bar, and the date the figure resets. Unlimited features show usage
 * without a bar. The view is shared with the client's other components and refreshed while
 * shown. Unstyled: `km-usage-meters` / `km-usage-meter*` classes (the track also has `meter`,
 * and `over` when full); the fill's width is set inline.
 *
 * @example
 * <UsageMeters client={client} />
 */
export function UsageMeters({
  client,
  features,
  loading = <p className="km-usage-meters-loading">Loading usage…</p>,
  empty = <p className="km-usage-meters-empty">Nothing here is metered.</p>,
  locale,
  timeZone,
}: UsageMetersProps): ReactNode {
  const { view, error, loading: isLoading } = usePortalView(client);
  if (view === null) {
    if (isLoading) return loading;
    return (
      <p className="km-usage-meters-error" role="alert">
        Usage could not be loaded: {error?.message}
      </p>
    );
  }
  const shown = (
    features
      ? features.flatMap((key) => view.entitlements.filter((entitlement) => entitlement.feature === key))
      : view.entitlements
  ).filter(hasFigures);
  if (shown.length === 0) return empty;
  return (
    <ul className="km-usage-meters">
      {shown.map((entitlement) => (
        <Meter
          key={entitlement.feature}
          entitlement={entitlement}
          name={portalFeatureName(view, entitlement.feature)}
          format={{ locale, timeZone }}
        />
      ))}
    </ul>
  );
}

function Meter(props: { entitlement: PortalEntitlement; name: string; format: PortalFormat }): ReactNode {
  const { entitlement, name, format } = props;
  const labelId = useId();
  const usage = entitlement.usage ?? 0;
  const max = entitlement.unlimited ? null : entitlement.limit;
  const used = portalNumber(usage, format);
  const full = max !== null && usage >= max;
  return (
    <li
      className="km-usage-meter"
      data-feature={entitlement.feature}
      data-state={max === null ? 'unlimited' : full ? 'full' : 'ok'}
    >
      <div className="km-usage-meter-head">
        <span className="km-usage-meter-label" id={labelId}>
          {name}
        </span>{' '}
        <span className="km-usage-meter-figures">
          {max === null ? `${used} (unlimited)` : `${used} / ${portalNumber(max, format)}`}
        </span>
      </div>
      {max !== null ? (
        <div
          className={`km-usage-meter-track meter${full ? ' over' : ''}`}
          role="progressbar"
          aria-labelledby={labelId}
          aria-valuemin={0}
          aria-valuemax={max}
          aria-valuenow={Math.min(usage, max)}
          aria-valuetext={`${used} of ${portalNumber(max, format)} used`}
        >
          <span
            className="km-usage-meter-fill"
            style={{ width: `${max > 0 ? Math.min(100, (usage / max) * 100) : 100}%` }}
          />
        </div>
      ) : null}
      {entitlement.resets_at !== null ? (
        <span className="km-usage-meter-reset">
          Resets <time dateTime={entitlement.resets_at}>{portalDate(entitlement.resets_at, format)}</time>
        </span>
      ) : null}
    </li>
  );
}
