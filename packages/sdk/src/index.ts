export type { Notification, Reservation, UsageHistory } from '@keymaster/contract';
export {
  createKeymaster,
  Keymaster,
  type NotificationPage,
  type SyncStatus,
  type UnreadNotifications,
} from './client.js';
export {
  type Decision,
  type DecisionReason,
  type DecisionSource,
  type FailureMode,
  type FailurePolicy,
  type FallbackReason,
  fallbackDecision,
} from './decision.js';
export { KeymasterError } from './errors.js';
export type { SentEvent, TrackError, TrackingOptions, UsageEvent } from './event-tracker.js';
export type { FlagAnswer } from './feature-definitions.js';
export type { Fetch } from './http.js';
export type { Clock, KeymasterOptions } from './options.js';
export { type SseEvent, SseParser } from './sse-parser.js';
