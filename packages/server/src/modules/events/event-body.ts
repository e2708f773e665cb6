import { EventBatch, maxEventsPerRequest } from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import { parseJson } from '../../http/json-body.js';
import { type AjvError, schemaError } from '../../http/problems.js';
import { bodyValidator } from '../../http/validation.js';
import type { EventFormat } from './service.js';

export const cloudEventType = 'application/cloudevents+json';
export const cloudEventBatchType = 'application/cloudevents-batch+json';

/** What `POST /v1/events` takes, by media type: declared on the route, checked by `readEventBody`. */
export const eventBodySchemas = {
  'application/json': EventBatch,
  // CloudEvents' structured JSON modes are JSON under their own media types.
  [cloudEventType]: Type.Object({}, { additionalProperties: true, description: 'One CloudEvent.' }),
  [cloudEventBatchType]: Type.Array(Type.Unknown(), { maxItems: maxEventsPerRequest, description: 'CloudEvents.' }),
};

/** A media type `POST /v1/events` takes. */
export type EventMediaType = keyof typeof eventBodySchemas;

/**
 * The media type of a `Content-Type` header if `POST /v1/events` takes it (JSON when there is
 * none), undefined if not: the route refuses the others (415) before a body is read.
 */
export function eventMediaType(contentType: string | undefined): EventMediaType | undefined {
  const media = (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  return media in eventBodySchemas ? (media as EventMediaType) : undefined;
}

type Validate = (data: unknown, text?: string) => { value?: unknown; error?: { validation: AjvError[] } };
const validators = new Map<EventMediaType, Validate>();
function validatorFor(type: EventMediaType): Validate {
  let validate = validators.get(type);
  if (!validate) {
    validate = bodyValidator(eventBodySchemas[type]) as Validate;
    validators.set(type, validate);
  }
  return validate;
}

/** A request's events, and how they are written. */
export interface EventBody {
  events: unknown[];
  format: EventFormat;
}

/**
 * Reads the body of `POST /v1/events` as it arrived — bytes, or nothing — the way the router
 * reads any JSON body: parsed without prototype poisoning, then checked against the schema of its
 * media type, no coercion; a body that is neither is refused with the same domain errors (so the
 * same answers). Done here rather than by the router so that a batch's parsing, like its
 * metering, can run off the event loop (see `threadEventIngester`).
 */
export function readEventBody(input: { body: Uint8Array | undefined; mediaType: EventMediaType }): EventBody {
  const { body, mediaType } = input;
  const text = body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8') : '';
  const validated = validatorFor(mediaType)(parseJson(text), text);
  if (validated.error) throw schemaError(validated.error.validation, 'body');
  const value = validated.value;
  if (mediaType === cloudEventBatchType) return { events: value as unknown[], format: 'cloudevents' };
  if (mediaType === cloudEventType) return { events: [value], format: 'cloudevents' };
  return { events: (value as EventBatch).events, format: 'keymaster' };
}
