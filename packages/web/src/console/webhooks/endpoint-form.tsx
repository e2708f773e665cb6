import type { WebhookEndpoint } from '@keymaster/contract';
import { type FormEvent, type ReactElement, useState } from 'react';
import { ApiError } from '../../api/client';
import { Field, FormError, fieldError } from '../../ui/forms';
import { EventTypesField } from './event-types';

/** What the endpoint form edits: the body of a create, or of a change (with `status`). */
export interface EndpointInput {
  url: string;
  description: string | null;
  events: string[] | null;
  status?: 'enabled' | 'disabled';
}

/** The message for the event types: the API's for `/events` or any one of its items. */
function eventsError(error: unknown): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  return error.errors.find((e) => e.path === '/events' || e.path.startsWith('/events/'))?.message;
}

/**
 * The form of a webhook endpoint: its URL, what it is for, its event types and (when editing)
 * whether it is enabled. The API's field errors show next to their fields.
 */
export function EndpointForm(props: {
  endpoint?: WebhookEndpoint;
  submitLabel: string;
  pending: boolean;
  error: unknown;
  onSubmit: (input: EndpointInput) => void;
  onCancel: () => void;
}): ReactElement {
  const { endpoint, error } = props;
  const [url, setUrl] = useState(endpoint?.url ?? '');
  const [description, setDescription] = useState(endpoint?.description ?? '');
  const [events, setEvents] = useState<string[] | null>(endpoint?.events ?? null);
  const [status, setStatus] = useState<'enabled' | 'disabled'>(endpoint?.status ?? 'enabled');
  const [chooseOne, setChooseOne] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    // An empty choice would deliver nothing: the endpoint is disabled for that.
    if (events !== null && events.length === 0) {
      setChooseOne(true);
      return;
    }
    setChooseOne(false);
    props.onSubmit({
      url: url.trim(),
      description: description.trim() === '' ? null : description.trim(),
      events,
      ...(endpoint ? { status } : {}),
    });
  };

  const fields = endpoint ? ['/url', '/description', '/status'] : ['/url', '/description'];
  const shown =
    error instanceof ApiError
      ? error.errors.map((e) => e.path).filter((path) => fields.includes(path) || path.startsWith('/events'))
      : [];
  return (
    <form onSubmit={submit} noValidate>
      <Field
        label="URL"
        hint="Where signed deliveries are POSTed: an https URL on a public address."
        error={fieldError(error, '/url')}
      >
        {(control) => (
          <input
            {...control}
            type="url"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder="https://example.com/keymaster"
          />
        )}
      </Field>
      <Field label="Description" error={fieldError(error, '/description')}>
        {(control) => <input {...control} value={description} onChange={(e) => setDescription(e.target.value)} />}
      </Field>
      <EventTypesField
        value={events}
        onChange={setEvents}
        error={chooseOne ? 'Choose at least one event type, or every type.' : eventsError(error)}
      />
      {endpoint ? (
        <Field
          label="Status"
          hint="A disabled endpoint gets nothing. Enabling it again restarts its failure count."
          error={fieldError(error, '/status')}
        >
          {(control) => (
            <select
              {...control}
              value={status}
              onChange={(e) => setStatus(e.target.value === 'disabled' ? 'disabled' : 'enabled')}
            >
              <option value="enabled">Enabled</option>
              <option value="disabled">Disabled</option>
            </select>
          )}
        </Field>
      ) : null}
      <FormError error={error} shown={shown} />
      <div className="actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="submit" className="primary" disabled={props.pending}>
          {props.submitLabel}
        </button>
      </div>
    </form>
  );
}
