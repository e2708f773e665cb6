import type { WebhookEventType } from '@keymaster/contract';
import type { ReactElement } from 'react';
import { FieldGroup } from '../../ui/forms';

/** Every type an endpoint can subscribe to, as the API lists them (checked against the contract below). */
export const webhookEventTypes = [
  'subscription.created',
  'subscription.updated',
  'subscription.renewed',
  'subscription.canceled',
  'subscription.expired',
  'trial.ending',
  'trial.ended',
  'entitlements.updated',
  'usage.threshold_reached',
  'usage.limit_reached',
  'payment.failed',
  'credits.expiring',
  'notification.created',
  'endpoint.disabled',
  'report.ready',
] as const satisfies readonly WebhookEventType[];

// A type the contract adds and this list lacks fails the typecheck here, not silently in the form.
type Missing = Exclude<WebhookEventType, (typeof webhookEventTypes)[number]>;
const everyTypeListed: [Missing] extends [never] ? true : Missing = true;
void everyTypeListed;

/**
 * The event types of an endpoint: every type (`null`, also the types added later) or a chosen
 * few. A group of checkboxes under one legend, with the API's error for `/events` under it.
 */
export function EventTypesField(props: {
  value: string[] | null;
  onChange: (value: string[] | null) => void;
  error?: string | undefined;
}): ReactElement {
  const { value, onChange } = props;
  return (
    <FieldGroup legend="Event types" error={props.error}>
      <label className="row">
        <input type="checkbox" checked={value === null} onChange={(e) => onChange(e.target.checked ? null : [])} />
        Every event type (also types added later)
      </label>
      {value === null ? null : (
        <div className="grid-2" style={{ gap: '0.25rem 1rem' }}>
          {webhookEventTypes.map((type) => (
            <label key={type} className="row small">
              <input
                type="checkbox"
                checked={value.includes(type)}
                onChange={(e) =>
                  onChange(e.target.checked ? [...value, type] : value.filter((chosen) => chosen !== type))
                }
              />
              <code>{type}</code>
            </label>
          ))}
        </div>
      )}
    </FieldGroup>
  );
}
