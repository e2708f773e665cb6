import type { ReactNode } from 'react';
import { useEntitlement } from './use-entitlement.js';

export interface FeatureProps {
  /** The feature key, e.g. `sso`. */
  feature: string;
  /** Units the gated content would use (default 1): denied when fewer are left. */
  quantity?: number;
  /** Shown when the customer may use it. */
  children?: ReactNode;
  /** Shown when they may not (default: nothing). */
  fallback?: ReactNode;
  /** Shown until their entitlements have arrived (default: nothing), so no "no" flashes first. */
  loading?: ReactNode;
}

/**
 * Shows `children` only to a customer entitled to `feature`, `fallback` otherwise; switches as
 * soon as a grant, plan change or usage reaches the page.
 *
 * @example
 * <Feature feature="sso" fallback={<p>Single sign-on comes with Pro.</p>}>
 *   <SsoSettings />
 * </Feature>
 */
export function Feature({ feature, quantity, children, fallback = null, loading = null }: FeatureProps): ReactNode {
  const state = useEntitlement(feature, { quantity });
  if (state.loading) return loading;
  return state.allowed ? children : fallback;
}
