export type { Decision, DecisionReason } from '@keymaster/sdk';
export { Feature, type FeatureProps } from './feature.js';
export { useKeymaster } from './keymaster-context.js';
export { KeymasterProvider, type KeymasterProviderProps, type ProviderClientOptions } from './keymaster-provider.js';
export { Paywall, type PaywallProps } from './paywall.js';
export { UsageMeter, type UsageMeterProps } from './usage-meter.js';
export { type EntitlementState, useEntitlement } from './use-entitlement.js';
export { type UpgradePlan, type UpgradeState, useUpgrade } from './use-upgrade.js';
