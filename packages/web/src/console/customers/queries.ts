import type { Feature, Plan, Subscription } from '@keymaster/contract';
import { useQuery } from '@tanstack/react-query';
import { type Page, segment } from '../../api/client';
import { useApi } from '../session';

/**
 * The query keys of the customer pages. Everything about one customer starts with
 * `['customers', id]` and the list with `['customers', 'list']`: what the live updates
 * (live.ts) invalidate when the stream says that customer, or any customer, changed.
 */
export const customerKeys = {
  list: (search: { q: string; cursor: string | undefined }) => ['customers', 'list', search] as const,
  of: (id: string) => ['customers', id] as const,
  record: (id: string) => ['customers', id, 'record'] as const,
  subscription: (id: string) => ['customers', id, 'subscription'] as const,
  history: (id: string, subscription: string) => ['customers', id, 'history', subscription] as const,
  entitlements: (id: string) => ['customers', id, 'entitlements'] as const,
  usage: (id: string, range: { feature: string; granularity: string; from?: string; to?: string }) =>
    ['customers', id, 'usage', range] as const,
  grants: (id: string, includeRevoked: boolean) => ['customers', id, 'grants', { includeRevoked }] as const,
  notifications: (id: string) => ['customers', id, 'notifications'] as const,
  decisions: (id: string) => ['customers', id, 'decisions'] as const,
};

/** The path of one customer's resource: `customerPath('acme', 'grants')` → `/v1/customers/acme/grants`. */
export function customerPath(id: string, ...rest: string[]): string {
  return ['/v1/customers', segment(id), ...rest].join('/');
}

/**
 * The customer's newest subscription (live or ended), or null: the list shows its plan and status,
 * the customer page its details. One small request per customer, shared by both pages' cache.
 */
export function useLatestSubscription(id: string) {
  const api = useApi();
  return useQuery({
    queryKey: customerKeys.subscription(id),
    queryFn: async () =>
      (await api.get<Page<Subscription>>(customerPath(id, 'subscriptions'), { limit: 1 })).data[0] ?? null,
  });
}

/** Statuses after which a customer has no live subscription and may be subscribed again. */
export const endedStatuses: readonly string[] = ['canceled', 'expired'];

/**
 * The catalog the customer pages pick from (plans to subscribe to, features to grant): its first
 * 100 entries, which is every plan and feature of nearly every catalog (`more` says when not).
 * Keys start with the catalog's area, so a catalog change refreshes them; the object element
 * keeps them apart from the catalog pages' own queries.
 */
export function usePlans() {
  const api = useApi();
  return useQuery({
    queryKey: ['plans', { for: 'customers' }],
    queryFn: async () => {
      const page = await api.get<Page<Plan>>('/v1/plans', { limit: 100 });
      return { plans: page.data, more: page.has_more };
    },
    staleTime: 30_000,
  });
}

export function useFeatures() {
  const api = useApi();
  return useQuery({
    queryKey: ['features', { for: 'customers' }],
    queryFn: async () => {
      const page = await api.get<Page<Feature>>('/v1/features', { limit: 100 });
      return { features: page.data, more: page.has_more };
    },
    staleTime: 30_000,
  });
}

/** Plans a customer can be subscribed or moved to: base plans with a published version, not archived. */
export function subscribablePlans(plans: readonly Plan[]): Plan[] {
  return plans.filter((plan) => plan.kind === 'base' && plan.published_version !== null && plan.archived_at === null);
}
