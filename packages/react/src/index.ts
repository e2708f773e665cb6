export type { Decision, DecisionReason, Notification } from '@keymaster/sdk';
export { Feature, type FeatureProps } from './feature.js';
export { useKeymaster } from './keymaster-context.js';
export { KeymasterProvider, type KeymasterProviderProps, type ProviderClientOptions } from './keymaster-provider.js';
export { Notifications, type NotificationsProps } from './notifications.js';
export { Paywall, type PaywallProps } from './paywall.js';
export { PlanPicker, type PlanPickerProps } from './plan-picker.js';
export { PortalButton, type PortalButtonProps } from './portal-button.js';
export {
  createPortalClient,
  type PortalAddOn,
  type PortalBilling,
  type PortalChangePreview,
  type PortalClient,
  type PortalClientOptions,
  type PortalEntitlement,
  PortalError,
  type PortalFeature,
  type PortalPlan,
  type PortalPrice,
  type PortalSubscription,
  type PortalView,
  type PortalViewState,
  type PortalWhen,
  usePortalView,
} from './portal-client.js';
export type { PortalFormat } from './portal-format.js';
export { UsageMeter, type UsageMeterProps } from './usage-meter.js';
export { UsageMeters, type UsageMetersProps } from './usage-meters.js';
export { type EntitlementState, useEntitlement } from './use-entitlement.js';
export { type NotificationsState, useNotifications } from './use-notifications.js';
export { type UpgradePlan, type UpgradeState, useUpgrade } from './use-upgrade.js';
