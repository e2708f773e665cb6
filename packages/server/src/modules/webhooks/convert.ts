import type { WebhookAttempt, WebhookEndpoint } from '@keymaster/contract';
import type { Selectable } from 'kysely';
import type { WebhookAttemptTable, WebhookEndpointTable } from '../../db/schema.js';
import { fromJsonColumn, toIso } from '../../json-column.js';
import type { SecretsAtRest } from '../../secrets-at-rest.js';

export type EndpointRow = Selectable<WebhookEndpointTable>;
export type AttemptRow = Selectable<WebhookAttemptTable>;

export function toApiEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    events: fromJsonColumn<string[]>(row.events),
    description: row.description,
    status: row.status === 'disabled' ? 'disabled' : 'enabled',
    created_at: toIso(row.created_at),
    updated_at: toIso(row.updated_at),
  };
}

export function toApiAttempt(row: AttemptRow): WebhookAttempt {
  return {
    id: row.id,
    delivery: row.delivery_id,
    event: row.event_id,
    type: row.event_type,
    attempted_at: toIso(row.attempted_at),
    status_code: row.status_code,
    duration_ms: row.duration_ms,
    response_body: row.response_body,
    error: row.error,
    succeeded: row.succeeded === 1,
    next_retry_at: toIso(row.next_retry_at),
  };
}

type EndpointSecrets = Pick<EndpointRow, 'id' | 'secret' | 'previous_secret'>;

/** What binds an endpoint's stored secrets to its row (see secrets-at-rest.ts). */
function secretContext(id: string): string {
  return `webhook endpoint ${id}`;
}

/** A row as stored → with its secrets readable (they are kept encrypted with KEYMASTER_ENCRYPTION_KEY). */
export function fromDbEndpoint<Row extends EndpointSecrets>(row: Row, secrets: SecretsAtRest): Row {
  const context = secretContext(row.id);
  return {
    ...row,
    secret: secrets.open(row.secret, context),
    previous_secret: row.previous_secret === null ? null : secrets.open(row.previous_secret, context),
  };
}

/** An endpoint's secrets as they are stored: encrypted when a key is set. */
export function toDbSecrets(
  row: EndpointSecrets,
  secrets: SecretsAtRest,
): Pick<EndpointSecrets, 'secret' | 'previous_secret'> {
  const context = secretContext(row.id);
  return {
    secret: secrets.seal(row.secret, context),
    previous_secret: row.previous_secret === null ? null : secrets.seal(row.previous_secret, context),
  };
}

/** The secrets that sign at `now`: the current one, and the one it replaced during the overlap. */
export function signingSecrets(row: EndpointRow, now: number): string[] {
  return row.previous_secret !== null && row.previous_secret_until !== null && now < row.previous_secret_until
    ? [row.secret, row.previous_secret]
    : [row.secret];
}

/** Whether the endpoint takes events of this type. */
export function wants(row: EndpointRow, type: string): boolean {
  const events = fromJsonColumn<string[]>(row.events);
  return events === null || events.includes(type);
}
