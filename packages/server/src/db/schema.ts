import type { ColumnType, Generated } from 'kysely';

/**
 * The database as Kysely sees it. Portable column types only: text ids, integer epoch-ms times,
 * JSON as text, integer quantities; the same rows work on SQLite and PostgreSQL.
 */
export interface Database {
  features: FeatureTable;
  plans: PlanTable;
  plan_versions: PlanVersionTable;
  customers: CustomerTable;
  subscriptions: SubscriptionTable;
  grants: GrantTable;
  api_keys: ApiKeyTable;
  idempotency_keys: IdempotencyKeyTable;
  changes: ChangeTable;
  settings: SettingTable;
  events: EventTable;
  usage_counters: UsageCounterTable;
  usage_distinct: UsageDistinctTable;
  consumptions: ConsumptionTable;
  reservations: ReservationTable;
  credit_balances: CreditBalanceTable;
  subscription_history: SubscriptionHistoryTable;
  domain_events: DomainEventTable;
  alert_rules: AlertRuleTable;
  alert_firings: AlertFiringTable;
  usage_history: UsageHistoryTable;
  stripe_events: StripeEventTable;
  audit_events: AuditEventTable;
  audit_head: AuditHeadTable;
  audit_pending: AuditPendingTable;
  audit_checkpoints: AuditCheckpointTable;
  billing_links: BillingLinkTable;
  billing_changes: BillingChangeTable;
  contract_revisions: ContractRevisionTable;
  outbox_consumers: OutboxConsumerTable;
  webhook_endpoints: WebhookEndpointTable;
  webhook_deliveries: WebhookDeliveryTable;
  webhook_attempts: WebhookAttemptTable;
  notifications: NotificationTable;
  notification_emails: NotificationEmailTable;
  decisions: DecisionTable;
  reports: ReportTable;
  users: UserTable;
  user_sessions: UserSessionTable;
  user_links: UserLinkTable;
}

export interface FeatureTable {
  id: string;
  key: string;
  name: string;
  description: string | null;
  type: string;
  unit: string | null;
  status: string;
  options: string | null;
  meter: string | null;
  credit_cost: string | null;
  targeting: string | null;
  variants: string | null;
  /** Optional on insert only so that tests can write rows as they were before migration 0012. */
  default_variant: ColumnType<string | null, string | null | undefined, string | null>;
  /** Which decisions the decision log keeps (migration 0022); null: `denied`. */
  decision_log: ColumnType<string | null, string | null | undefined, string | null>;
  metadata: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: number;
  updated_at: number;
}

export interface PlanTable {
  key: string;
  created_at: number;
}

export interface PlanVersionTable {
  id: string;
  plan_key: string;
  version: number;
  status: string;
  name: string;
  description: string | null;
  kind: string;
  price_amount: number | null;
  price_currency: string | null;
  price_interval: string | null;
  trial_days: number | null;
  /** The Stripe product (`prod_…`) this plan is sold as (migration 0016). */
  stripe_product: ColumnType<string | null, string | null | undefined, string | null>;
  entitlements: string;
  created_at: number;
  updated_at: number;
  published_at: number | null;
  archived_at: number | null;
}

export interface CustomerTable {
  id: string;
  name: string | null;
  email: string | null;
  traits: string;
  /** The Stripe customer (`cus_…`) this customer pays as (migration 0016). */
  stripe_customer: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: number;
  updated_at: number;
}

export interface SubscriptionTable {
  id: string;
  customer_id: string;
  plan_key: string;
  plan_version: number;
  status: string;
  current_period_start: number;
  current_period_end: number;
  /** month or year: the base plan's price interval (changes only with the plan). */
  billing_interval: string;
  billing_anchor: number;
  trial_end: number | null;
  trial_notice_sent: number;
  grace_ends_at: number | null;
  resumes_at: number | null;
  on_ends_at: string;
  contract_months: number | null;
  /** When the scheduler next has something to do with it; null: never. */
  next_due_at: number | null;
  on_trial_end: string;
  cancel_at: number | null;
  canceled_at: number | null;
  ends_at: number | null;
  scheduled_change: string | null;
  add_ons: string;
  source: string;
  created_at: number;
  updated_at: number;
}

export interface GrantTable {
  id: string;
  customer_id: string;
  feature: string;
  mode: string;
  /** JSON `{enabled?, limit?, value?}`: JSON keeps "not set" apart from null (= unlimited). */
  terms: string;
  starts_at: number | null;
  expires_at: number | null;
  reason: string;
  created_at: number;
  revoked_at: number | null;
}

export interface ApiKeyTable {
  id: string;
  name: string | null;
  prefix: string;
  secret_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /** A JSON array of scope names (modules/users/permissions.ts). */
  scopes: string;
  /** When the key stops working (set when it is rolled), or null. */
  expires_at: number | null;
}

export interface IdempotencyKeyTable {
  scope: string;
  key: string;
  request_hash: string;
  state: string;
  response_status: number | null;
  response_body: string | null;
  created_at: number;
  expires_at: number;
  /** The request holding the key (migration 0014); null on records written before it. */
  owner: string | null;
  /** The customer the request was about, erased with them. */
  customer_id: string | null;
}

/** The change feed: one row per write that can change an answer, written by triggers. */
export interface ChangeTable {
  seq: Generated<number>;
  scope: string;
  customer_id: string | null;
  /** A change of many customers' usage at once: their ids as a JSON array (see migration 0013). */
  customer_ids: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A server-wide setting all nodes share (see migration 0010). */
export interface SettingTable {
  key: string;
  value: string;
  created_at: number;
}

/** A usage event, stored once: `(source, id)` is its identity. */
export interface EventTable {
  source: string;
  id: string;
  customer_id: string;
  type: string;
  timestamp: number;
  properties: string;
  received_at: number;
}

/** Usage of one metered feature by one customer in one period (or one-minute bucket). */
export interface UsageCounterTable {
  customer_id: string;
  feature: string;
  period_start: number;
  value: number;
  /** For `latest` meters: when the value was observed. */
  latest_at: number | null;
  updated_at: number;
}

/** A value seen by a `unique_count` meter in a period. */
export interface UsageDistinctTable {
  customer_id: string;
  feature: string;
  period_start: number;
  value: string;
}

/** A consume's answer, kept under its idempotency key. */
export interface ConsumptionTable {
  customer_id: string;
  idempotency_key: string;
  request_hash: string;
  /** The decision as JSON; null while the first attempt is still running. */
  response: string | null;
  created_at: number;
}

/** A hold on usage, settled by commit, release or expiry. */
export interface ReservationTable {
  id: string;
  customer_id: string;
  feature: string;
  /** The counter the held units were added to. */
  period_start: number;
  quantity: number;
  status: string;
  committed_quantity: number | null;
  expires_at: number;
  created_at: number;
  settled_at: number | null;
  /** The counter the units are held on: the pool for a feature drawing from one; null = `feature`. */
  counter_feature: string | null;
  /** Units of the counter per unit held (the pool cost); null = 1. */
  per_unit: number | null;
  /** The allowance in force when credit grants paid for the hold; null when none could. */
  credit_allowance: number | null;
}

/** What is left of one `credit` grant. */
export interface CreditBalanceTable {
  grant_id: string;
  customer_id: string;
  feature: string;
  remaining: number;
  updated_at: number;
  /** When `credits.expiring` was emitted for this grant (migration 0020); null: not yet. */
  expiry_noticed_at: ColumnType<number | null, number | null | undefined, number | null>;
}

/** One change to a subscription: who made it, when, why, and the subscription before and after. */
export interface SubscriptionHistoryTable {
  seq: Generated<number>;
  subscription_id: string;
  customer_id: string;
  /** When the change took effect (a step's due instant; the request time for API changes). */
  at: number;
  action: string;
  actor: string;
  reason: string | null;
  before: string | null;
  after: string;
  recorded_at: number;
}

/** The outbox: domain events written with the change they describe, delivered later. */
export interface DomainEventTable {
  seq: Generated<number>;
  id: string;
  type: string;
  customer_id: string;
  subscription_id: string | null;
  occurred_at: number;
  data: string;
  created_at: number;
  delivered_at: number | null;
}

/** What a metered counter's changes added in one UTC hour (see migration 0007). */
export interface UsageHistoryTable {
  customer_id: string;
  feature: string;
  /** The start of the UTC hour. */
  bucket_start: number;
  /** The counter (`usage_counters.period_start`) the usage went to. */
  period_start: number;
  value: number;
  /** For `latest` meters: when the value was observed. */
  latest_at: number | null;
  updated_at: number;
}

/** Every event Stripe delivered, stored before it is applied (migration 0016). */
export interface StripeEventTable {
  id: string;
  event_id: string;
  type: string;
  created: number;
  payload: string;
  outcome: string;
  detail: string | null;
  stripe_subscription: string | null;
  customer_id: string | null;
  /** The Stripe customer the event's object belongs to (migration 0019): erased with them. */
  stripe_customer: ColumnType<string | null, string | null | undefined, string | null>;
  /** When an `invoice.payment_failed` was announced as `payment.failed` (migration 0020). */
  announced_at: ColumnType<number | null, number | null | undefined, number | null>;
  received_at: number;
  applied_at: number | null;
}

/** A subscription in a billing system and the Keymaster subscription it drives (see migration 0015). */
export interface BillingLinkTable {
  source: string;
  external_id: string;
  customer_id: string;
  subscription_id: string;
  /** The ordering token of the last change applied: a lower one is stale. */
  last_ordering: number;
  created_at: number;
  updated_at: number;
}

/** A billing change applied, by its idempotency id: the primary key applies it once. */
export interface BillingChangeTable {
  source: string;
  idempotency_id: string;
  external_id: string;
  customer_id: string;
  subscription_id: string;
  ordering: number;
  actor: string;
  applied_at: number;
}

/** One applied revision of a contract: its first answer and the grants it created (JSON). */
export interface ContractRevisionTable {
  system: string;
  deal_id: string;
  revision: number;
  customer_id: string;
  subscription_id: string;
  grant_ids: string;
  answer: string;
  created_at: number;
}

/** The audit trail: one row per change, hash-chained (see modules/audit). */
export interface AuditEventTable {
  seq: number;
  at: number;
  actor_type: string;
  actor_id: string;
  request_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  customer_id: string | null;
  /** The change's details (JSON); emptied when the customer it is about is erased. */
  data: string | null;
  /** SHA-256 of `data`'s canonical form: what the hash covers, so erasing `data` keeps the chain. */
  data_digest: string;
  prev_hash: string;
  hash: string;
}

/**
 * An audit row written by its change, waiting for the sealer to give it its `seq` and hash in
 * `audit_events` (modules/audit/sealer.ts). `data` is the change's JSON, not yet canonical.
 */
export interface AuditPendingTable {
  id: Generated<number>;
  at: number;
  actor_type: string;
  actor_id: string;
  request_id: string | null;
  action: string;
  target_type: string;
  target_id: string;
  customer_id: string | null;
  data: string | null;
}

/** The chain's head: the last `seq` and its hash, moved by the sealer under its row lock. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

/** A point of the audit chain, signed when a key is configured (see modules/audit/checkpoints.ts). */
export interface AuditCheckpointTable {
  id: string;
  seq: number;
  hash: string;
  /** The rows the trail held up to `seq` when it was made (a retention checkpoint: the rows it pruned). */
  count: number;
  at: number;
  /** `manual` (asked for) or `retention` (made by pruning: verification starts from the latest). */
  reason: string;
  /** Ed25519 over the checkpoint's signed form, base64; null without a signing key. */
  signature: string | null;
  /** The signing key's public half, SPKI DER in base64. */
  public_key: string | null;
}

/** How far one consumer of the outbox (`domain_events`) has read: the highest `seq` it took. */
export interface OutboxConsumerTable {
  name: string;
  position: number;
  updated_at: number;
}

export interface WebhookEndpointTable {
  id: string;
  url: string;
  /** JSON array of event types, or null for every type. */
  events: string | null;
  description: string | null;
  status: string;
  secret: string;
  /** The secret a rotation replaced, which keeps signing until `previous_secret_until`. */
  previous_secret: string | null;
  previous_secret_until: number | null;
  /** The first failed attempt since the last success; null while the endpoint answers. */
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

/** One event to one endpoint: `pending` (due at `next_attempt_at`), `succeeded` or `failed`. */
export interface WebhookDeliveryTable {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  customer_id: string;
  /** The body as sent, the same bytes on every attempt. */
  payload: string;
  status: string;
  /** Attempts since the delivery was (re)queued: the position in the retry schedule. */
  attempts: number;
  next_attempt_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface WebhookAttemptTable {
  id: string;
  delivery_id: string;
  endpoint_id: string;
  customer_id: string;
  event_id: string;
  event_type: string;
  attempted_at: number;
  status_code: number | null;
  duration_ms: number;
  response_body: string | null;
  error: string | null;
  succeeded: number;
  next_retry_at: number | null;
}

/** A usage alert rule (see core's AlertRule); `customer_id` or `plan` say whom it watches. */
export interface AlertRuleTable {
  id: string;
  feature: string;
  type: string;
  value: number;
  plan: string | null;
  customer_id: string | null;
  created_at: number;
}

/** An alert fired: the primary key (rule, customer, feature, period start) makes it fire once. */
export interface AlertFiringTable {
  rule_id: string;
  customer_id: string;
  feature: string;
  period_start: number;
  fired_at: number;
}

/** An in-app notification to a customer, made from one outbox event (see migration 0018). */
export interface NotificationTable {
  id: string;
  customer_id: string;
  /** The outbox event it was made from: unique, so an event is told at most once. */
  event_id: string;
  type: string;
  title: string;
  body: string;
  /** JSON: the event's data. */
  data: string;
  created_at: number;
  read_at: number | null;
}

/**
 * An email telling a customer of a notification (see migration 0020): `pending` (due at
 * `next_attempt_at`), `sent` or `failed`. (customer, type, period_start) is unique.
 */
export interface NotificationEmailTable {
  id: string;
  customer_id: string;
  notification_id: string;
  type: string;
  /** The period the once-per-period rule counts in (epoch ms). */
  period_start: number;
  /** The customer's address when the email was made. */
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  status: string;
  /** Attempts made so far: the position in the retry schedule. */
  attempts: number;
  next_attempt_at: number | null;
  last_error: string | null;
  sent_at: number | null;
  created_at: number;
  updated_at: number;
}

/** One decision kept by the decision log (migration 0022). */
export interface DecisionTable {
  id: string;
  customer_id: string;
  feature: string;
  at: number;
  kind: string;
  /** 1 allowed, 0 refused (an integer on both dialects, as `trial_notice_sent`). */
  allowed: number;
  reason: string;
  quantity: number | null;
  usage: number | null;
  limit: number | null;
  /** JSON: the decision's provenance (core's `DecisionProvenance`). */
  provenance: string;
}

/** A stored report (migration 0023): its range, filters and origin, and its document gzip-compressed. */
export interface ReportTable {
  id: string;
  kind: string;
  /** `schedule`, `api` or `cli`. */
  made: string;
  range_from: number;
  range_to: number;
  /** JSON: `{plan, flag}`. */
  filters: string;
  /** The schedule's fire time it was made for; null when not made by the schedule. */
  scheduled_for: number | null;
  /** `pending` (claimed by a node computing it) or `ready`. */
  status: string;
  /** A pending report's lease. */
  claimed_until: number | null;
  created_at: number;
  customers: number | null;
  /** The JSON document's size in bytes. */
  size: number | null;
  compressed_size: number | null;
  /** The JSON document, gzip-compressed; null while pending. */
  body: Buffer | null;
}

/** A person who uses the console (modules/users). */
export interface UserTable {
  id: string;
  /** Lower-cased. */
  email: string;
  name: string | null;
  /** owner | admin | support | finance | viewer */
  role: string;
  /** `scrypt$N$r$p$salt$hash` (modules/users/passwords.ts); null until a password is set. */
  password_hash: string | null;
  created_at: number;
  updated_at: number;
}

/** A signed-in browser: the cookie's token is kept only as its SHA-256. */
export interface UserSessionTable {
  token_hash: string;
  user_id: string;
  /** What every state-changing request of the session sends in `X-CSRF-Token`. */
  csrf_token: string;
  created_at: number;
  expires_at: number;
}

/** A one-time link for console users: an invitation, a password reset, the first start's setup. */
export interface UserLinkTable {
  token_hash: string;
  /** invitation | password_reset | setup */
  kind: string;
  /** The invited address (invitation). */
  email: string | null;
  /** The invited role (invitation). */
  role: string | null;
  name: string | null;
  /** The user whose password it resets (password_reset). */
  user_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
}
