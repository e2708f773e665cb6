/**
 * Domain errors carry a kind (what went wrong, in domain terms) and a stable snake_case code.
 * They know nothing about HTTP: the server maps `kind` to a status in one table.
 */
export const ErrorKinds = ['invalid', 'not_found', 'conflict', 'unauthenticated', 'forbidden', 'unavailable'] as const;
export type ErrorKind = (typeof ErrorKinds)[number];

export const ErrorCodes = {
  validationFailed: 'validation_failed',
  /** Input that cannot be read at all (a body that is not JSON), as opposed to one that fails its schema. */
  malformedRequest: 'malformed_request',
  notFound: 'not_found',
  featureNotFound: 'feature_not_found',
  planNotFound: 'plan_not_found',
  customerNotFound: 'customer_not_found',
  subscriptionNotFound: 'subscription_not_found',
  grantNotFound: 'grant_not_found',
  alertRuleNotFound: 'alert_rule_not_found',
  notificationNotFound: 'notification_not_found',
  apiKeyNotFound: 'api_key_not_found',
  conflict: 'conflict',
  featureExists: 'feature_exists',
  featureTypeImmutable: 'feature_type_immutable',
  planExists: 'plan_exists',
  planAlreadyPublished: 'plan_already_published',
  planNotPublished: 'plan_not_published',
  planArchived: 'plan_archived',
  planKindMismatch: 'plan_kind_mismatch',
  subscriptionExists: 'subscription_exists',
  subscriptionNotLive: 'subscription_not_live',
  invalidTransition: 'invalid_transition',
  trialAlreadyUsed: 'trial_already_used',
  grantRevoked: 'grant_revoked',
  /** A billing source's change met a subscription another source (or the API) provisioned: never touched. */
  subscriptionSourceMismatch: 'subscription_source_mismatch',
  /** A contract revision lower than one already applied to the same deal. */
  staleRevision: 'stale_revision',
  /** A signed inbound webhook whose signature is missing, malformed, expired or wrong. */
  signatureInvalid: 'signature_invalid',
  /** A webhook URL that is not https, or resolves to an address Keymaster will not call (SSRF). */
  urlNotAllowed: 'url_not_allowed',
  webhookEndpointNotFound: 'webhook_endpoint_not_found',
  webhookDeliveryNotFound: 'webhook_delivery_not_found',
  /** The audit trail does not verify: no checkpoint is made of it, no row of it pruned. */
  auditChainBroken: 'audit_chain_broken',
  /** A console user with that email exists already. */
  userExists: 'user_exists',
  userNotFound: 'user_not_found',
  /** An invitation, password reset or setup link that is unknown, used or expired. */
  linkInvalid: 'link_invalid',
  /** The change would leave no owner. */
  lastOwner: 'last_owner',
  idempotencyConflict: 'idempotency_conflict',
  idempotencyInProgress: 'idempotency_in_progress',
  unauthenticated: 'unauthenticated',
  forbidden: 'forbidden',
  unavailable: 'unavailable',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** One problem with one input field; `path` is a JSON pointer into the request body. */
export interface FieldError {
  path: string;
  message: string;
}

export class DomainError extends Error {
  readonly kind: ErrorKind;
  readonly code: ErrorCode;
  readonly errors: FieldError[] | undefined;

  constructor(input: { kind: ErrorKind; code: ErrorCode; message: string; errors?: FieldError[] }) {
    super(input.message);
    this.name = 'DomainError';
    this.kind = input.kind;
    this.code = input.code;
    this.errors = input.errors;
  }
}

/** A validation failure naming every offending field at once. */
export function invalid(errors: FieldError[], message?: string): DomainError {
  const first = errors[0];
  return new DomainError({
    kind: 'invalid',
    code: ErrorCodes.validationFailed,
    message: message ?? (first ? `${first.path}: ${first.message}` : 'The request is invalid.'),
    errors,
  });
}

/** Input that could not be read at all (a body that is not JSON), before any field of it could be checked. */
export function malformed(message: string): DomainError {
  return new DomainError({ kind: 'invalid', code: ErrorCodes.malformedRequest, message });
}

export function notFound(code: ErrorCode, message: string, errors?: FieldError[]): DomainError {
  return new DomainError({ kind: 'not_found', code, message, ...(errors ? { errors } : {}) });
}

export function conflict(code: ErrorCode, message: string, errors?: FieldError[]): DomainError {
  return new DomainError({ kind: 'conflict', code, message, ...(errors ? { errors } : {}) });
}
