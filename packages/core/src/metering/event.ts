import type { FieldError } from '../errors.js';
import type { JsonObject } from '../json.js';

/**
 * One usage event, as stored. `source` + `id` is its identity: an event seen again is counted
 * once. Plain API events have the source `""`; CloudEvents carry their own (`source` + `id` is
 * what the CloudEvents spec defines as unique).
 */
export interface UsageEvent {
  source: string;
  id: string;
  customerId: string;
  type: string;
  /** When it happened (epoch ms); late events count in the period this falls in. */
  timestamp: number;
  properties: JsonObject;
}

/** How far ahead of the server's clock an event may be dated before it is refused (clock skew). */
export const maxFutureSkewMs = 5 * 60_000;

const maxIdLength = 255;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(input: { value: unknown; path: string; errors: FieldError[]; required: boolean }): string | undefined {
  const { value, path, errors } = input;
  if (value === undefined || value === null) {
    if (input.required) errors.push({ path, message: 'is required' });
    return undefined;
  }
  if (typeof value !== 'string' || value.length === 0 || value.length > maxIdLength) {
    errors.push({ path, message: `must be a string of 1 to ${maxIdLength} characters` });
    return undefined;
  }
  return value;
}

function instant(input: { value: unknown; path: string; errors: FieldError[]; now: number }): number {
  const { value, path, errors, now } = input;
  if (value === undefined || value === null) return now;
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms)) {
    errors.push({ path, message: 'must be an ISO-8601 time' });
    return now;
  }
  if (ms > now + maxFutureSkewMs) errors.push({ path, message: 'is too far in the future' });
  return ms;
}

const eventFields: ReadonlySet<string> = new Set(['id', 'customer', 'type', 'timestamp', 'properties']);

/**
 * Reads one event of a `POST /v1/events` batch: `{id, customer, type, timestamp?, properties?}`.
 * Answers the event, or every problem with it (paths relative to the event).
 */
export function readEvent(input: { raw: unknown; now: number }): { event: UsageEvent } | { errors: FieldError[] } {
  const { raw, now } = input;
  if (!isObject(raw)) return { errors: [{ path: '', message: 'must be an object' }] };
  const errors: FieldError[] = [];
  for (const key of Object.keys(raw))
    if (!eventFields.has(key)) errors.push({ path: `/${key}`, message: 'is not a known field' });
  const id = text({ value: raw.id, path: '/id', errors, required: true });
  const customerId = text({ value: raw.customer, path: '/customer', errors, required: true });
  const type = text({ value: raw.type, path: '/type', errors, required: true });
  const timestamp = instant({ value: raw.timestamp, path: '/timestamp', errors, now });
  if (raw.properties !== undefined && !isObject(raw.properties))
    errors.push({ path: '/properties', message: 'must be an object' });
  if (errors.length > 0 || id === undefined || customerId === undefined || type === undefined) return { errors };
  return { event: { source: '', id, customerId, type, timestamp, properties: (raw.properties ?? {}) as JsonObject } };
}

/**
 * Reads one CloudEvent (structured mode, spec 1.0): `subject` is the customer, `type` the event
 * type, `time` the timestamp, `data` the properties, and `source` + `id` the identity.
 */
export function readCloudEvent(input: { raw: unknown; now: number }): { event: UsageEvent } | { errors: FieldError[] } {
  const { raw, now } = input;
  if (!isObject(raw)) return { errors: [{ path: '', message: 'must be an object' }] };
  const errors: FieldError[] = [];
  if (raw.specversion !== '1.0') errors.push({ path: '/specversion', message: 'must be "1.0"' });
  const id = text({ value: raw.id, path: '/id', errors, required: true });
  const source = text({ value: raw.source, path: '/source', errors, required: true });
  const type = text({ value: raw.type, path: '/type', errors, required: true });
  const customerId = text({ value: raw.subject, path: '/subject', errors, required: true });
  const timestamp = instant({ value: raw.time, path: '/time', errors, now });
  if (raw.data !== undefined && raw.data !== null && !isObject(raw.data)) {
    errors.push({ path: '/data', message: 'must be a JSON object (the event properties)' });
  }
  if (raw.data_base64 !== undefined) errors.push({ path: '/data_base64', message: 'binary data is not supported' });
  if (errors.length > 0 || id === undefined || source === undefined || type === undefined || customerId === undefined) {
    return { errors };
  }
  return { event: { source, id, customerId, type, timestamp, properties: (raw.data ?? {}) as JsonObject } };
}
