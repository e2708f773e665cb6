import { EventBatch, maxEventsPerRequest } from '@keymaster/contract';
import { Type } from '@sinclair/typebox';
import secureJson from 'secure-json-parse';
import {
  type AjvError,
  malformedJsonProblem,
  type ProblemInput,
  unsupportedMediaTypeProblem,
  validationProblem,
} from '../../http/problems.js';
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

type MediaType = keyof typeof eventBodySchemas;

type Validate = (data: unknown, text?: string) => { value?: unknown; error?: { validation: AjvError[] } };
const validators = new Map<MediaType, Validate>();
function validatorFor(type: MediaType): Validate {
  let validate = validators.get(type);
  if (!validate) {
    validate = bodyValidator(eventBodySchemas[type]) as Validate;
    validators.set(type, validate);
  }
  return validate;
}

/** A request's events, or the problem that refuses the whole request. */
export type EventBody = { events: unknown[]; format: EventFormat } | { problem: ProblemInput };

/**
 * Reads the body of `POST /v1/events` as it arrived — bytes, or nothing — the way the router
 * reads any JSON body: parsed without prototype poisoning, then checked against the schema of its
 * media type, no coercion, with the same problem documents. Done here rather than by the router
 * so that a batch's parsing, like its metering, can run off the event loop (see
 * `threadEventIngester`).
 */
export function readEventBody(input: { body: Uint8Array | undefined; contentType: string | undefined }): EventBody {
  const media = (input.contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  if (!(media in eventBodySchemas)) {
    return { problem: unsupportedMediaTypeProblem(input.contentType) };
  }
  const type = media as MediaType;
  const { body } = input;
  const text = body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8') : '';
  let data: unknown;
  if (text !== '') {
    try {
      data = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch (error) {
      return { problem: malformedJsonProblem(error) };
    }
  }
  const validated = validatorFor(type)(data, text);
  if (validated.error) return { problem: validationProblem(validated.error.validation, 'body') };
  const value = validated.value;
  if (type === cloudEventBatchType) return { events: value as unknown[], format: 'cloudevents' };
  if (type === cloudEventType) return { events: [value], format: 'cloudevents' };
  return { events: (value as EventBatch).events, format: 'keymaster' };
}
