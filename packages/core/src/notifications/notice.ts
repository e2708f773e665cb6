/** What a customer is told about one domain event, in their in-app notifications. */
export interface Notice {
  title: string;
  body: string;
}

/** The event types that can become a notice (others never concern the customer directly). */
export const NoticeEventTypes = [
  'usage.threshold_reached',
  'usage.limit_reached',
  'trial.ending',
  'subscription.updated',
  'subscription.canceled',
  'subscription.expired',
  'payment.failed',
  'credits.expiring',
] as const;

interface SubscriptionData {
  plan?: unknown;
  trial_end?: unknown;
  ends_at?: unknown;
}

/**
 * The notice for one outbox event, or null when the event is nothing to tell the customer (a
 * `subscription.updated` that kept the plan: a renewal, a pause, a quantity). `featureName` and
 * `planName` turn keys into the names the catalog shows, falling back to the key.
 *
 * @example
 * noticeFor({ type: 'usage.threshold_reached', data: { feature: 'api_calls', type: 'percent', value: 80 },
 *   featureName: () => 'API calls', planName: (k) => k });
 * // → { title: 'You have used 80% of API calls', body: '…' }
 */
export function noticeFor(input: {
  type: string;
  data: unknown;
  featureName: (key: string) => string;
  planName: (key: string) => string;
}): Notice | null {
  const data = (input.data ?? {}) as Record<string, unknown>;
  const feature = typeof data.feature === 'string' ? input.featureName(data.feature) : 'a feature';
  const subscription = (data.subscription ?? {}) as SubscriptionData;
  const plan = typeof subscription.plan === 'string' ? input.planName(subscription.plan) : 'your plan';
  switch (input.type) {
    case 'usage.threshold_reached': {
      const limit = typeof data.limit === 'number' ? ` of your ${data.limit}` : '';
      if (data.type === 'units')
        return {
          title: `You have used ${String(data.usage)} of ${feature}`,
          body: `Your usage of ${feature} has reached ${String(data.value)}${limit} this period.`,
        };
      if (data.type === 'forecast_percent')
        return {
          title: `You are on course to use ${String(data.value)}% of ${feature}`,
          body: `At your current pace your usage of ${feature} will reach ${String(data.value)}%${limit} by the end of this period.`,
        };
      return {
        title: `You have used ${String(data.value)}% of ${feature}`,
        body: `Your usage of ${feature} is ${String(data.usage)}${limit} this period.`,
      };
    }
    case 'usage.limit_reached':
      return {
        title: `You have reached your ${feature} limit`,
        body: `You have used all ${String(data.limit)} of ${feature} this period; more is refused until the next period or an upgrade.`,
      };
    case 'trial.ending':
      return {
        title: 'Your trial ends soon',
        body: `Your trial of ${plan} ends on ${day(subscription.trial_end)}.`,
      };
    case 'subscription.updated': {
      const previous = (data.previous ?? {}) as SubscriptionData;
      if (typeof previous.plan !== 'string' || previous.plan === subscription.plan) return null;
      return {
        title: `Your plan changed to ${plan}`,
        body: `You are now on ${plan} (before: ${input.planName(previous.plan)}).`,
      };
    }
    case 'subscription.canceled':
      return {
        title: 'Your subscription was canceled',
        body:
          typeof subscription.ends_at === 'string'
            ? `Your subscription to ${plan} was canceled; access ends on ${day(subscription.ends_at)}.`
            : `Your subscription to ${plan} was canceled.`,
      };
    case 'subscription.expired':
      return { title: 'Your subscription has ended', body: `Your subscription to ${plan} has ended.` };
    case 'payment.failed': {
      const amount = typeof data.amount_due === 'number' && typeof data.currency === 'string';
      const what = amount
        ? `of ${money(data.amount_due as number, data.currency as string)} for ${plan}`
        : `for ${plan}`;
      const retry =
        typeof data.next_payment_attempt === 'string' ? ` We will try again on ${day(data.next_payment_attempt)}.` : '';
      return {
        title: 'Your payment failed',
        body: `We could not collect your payment ${what}.${retry} Update your payment method to keep your access.`,
      };
    }
    case 'credits.expiring':
      return {
        title: `Your ${feature} credits expire soon`,
        body: `${String(data.remaining)} of your ${feature} credits expire on ${day(data.expires_at)}; use them before then.`,
      };
    default:
      return null;
  }
}

/** An amount in the currency's minor units (Stripe's `amount_due`), as `$12.50` or `¥500`. */
function money(minor: number, currency: string): string {
  try {
    const format = new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() });
    // Currencies without minor units (JPY, KRW, …) are counted whole.
    return format.format(minor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    return `${minor} ${currency} (minor units)`;
  }
}

/** The date part of an ISO timestamp, or a vague phrase when there is none. */
function day(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 10) : 'a date to be confirmed';
}
