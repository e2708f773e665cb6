import { describe, expect, it } from 'vitest';
import { noticeFor } from './notice.js';

const names = {
  featureName: (key: string) => (key === 'api_calls' ? 'API calls' : key),
  planName: (key: string) => (key === 'pro' ? 'Pro' : key),
};

describe('noticeFor', () => {
  const cases: { name: string; type: string; data: unknown; title: string | null; body?: RegExp }[] = [
    {
      name: 'a percent threshold',
      type: 'usage.threshold_reached',
      data: { feature: 'api_calls', type: 'percent', value: 80, usage: 800, limit: 1000 },
      title: 'You have used 80% of API calls',
      body: /800 of your 1000/,
    },
    {
      name: 'a units threshold',
      type: 'usage.threshold_reached',
      data: { feature: 'api_calls', type: 'units', value: 500, usage: 510, limit: 1000 },
      title: 'You have used 510 of API calls',
    },
    {
      name: 'a forecast',
      type: 'usage.threshold_reached',
      data: { feature: 'api_calls', type: 'forecast_percent', value: 100, usage: 10, limit: 1000 },
      title: 'You are on course to use 100% of API calls',
    },
    {
      name: 'the limit',
      type: 'usage.limit_reached',
      data: { feature: 'seats', usage: 5, limit: 5 },
      title: 'You have reached your seats limit',
      body: /all 5 of seats/,
    },
    {
      name: 'a trial ending',
      type: 'trial.ending',
      data: { subscription: { plan: 'pro', trial_end: '2026-03-04T00:00:00.000Z' } },
      title: 'Your trial ends soon',
      body: /Pro ends on 2026-03-04/,
    },
    {
      name: 'a plan change',
      type: 'subscription.updated',
      data: { subscription: { plan: 'pro' }, previous: { plan: 'free' } },
      title: 'Your plan changed to Pro',
      body: /before: free/,
    },
    {
      name: 'an update that kept the plan',
      type: 'subscription.updated',
      data: { subscription: { plan: 'pro' }, previous: { plan: 'pro' } },
      title: null,
    },
    {
      name: 'a new subscription (no previous)',
      type: 'subscription.updated',
      data: { subscription: { plan: 'pro' }, previous: null },
      title: null,
    },
    {
      name: 'a cancellation at period end',
      type: 'subscription.canceled',
      data: { subscription: { plan: 'pro', ends_at: '2026-05-01T00:00:00.000Z' } },
      title: 'Your subscription was canceled',
      body: /ends on 2026-05-01/,
    },
    {
      name: 'an expiry',
      type: 'subscription.expired',
      data: { subscription: { plan: 'pro' } },
      title: 'Your subscription has ended',
    },
    {
      name: 'a failed payment, with the amount and the next attempt',
      type: 'payment.failed',
      data: {
        subscription: { plan: 'pro' },
        amount_due: 2500,
        currency: 'usd',
        next_payment_attempt: '2026-03-07T10:00:00.000Z',
      },
      title: 'Your payment failed',
      body: /payment of \$25\.00 for Pro\. We will try again on 2026-03-07\. Update your payment method/,
    },
    {
      name: 'a failed payment in a currency without minor units',
      type: 'payment.failed',
      data: { subscription: { plan: 'pro' }, amount_due: 500, currency: 'jpy' },
      title: 'Your payment failed',
      body: /payment of ¥500 for Pro\. Update/,
    },
    {
      name: 'a failed payment without its amount',
      type: 'payment.failed',
      data: { subscription: { plan: 'pro' } },
      title: 'Your payment failed',
      body: /your payment for Pro\./,
    },
    {
      name: 'credits expiring',
      type: 'credits.expiring',
      data: { feature: 'api_calls', remaining: 1200, expires_at: '2026-04-01T00:00:00.000Z' },
      title: 'Your API calls credits expire soon',
      body: /1200 of your API calls credits expire on 2026-04-01/,
    },
    { name: 'another type', type: 'entitlements.updated', data: {}, title: null },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const notice = noticeFor({ type: c.type, data: c.data, ...names });
      expect(notice?.title ?? null).toBe(c.title);
      if (c.body) expect(notice?.body).toMatch(c.body);
    });
  }
});
