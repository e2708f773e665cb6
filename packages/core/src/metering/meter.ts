import { type Meter, maxQuantity } from '../catalog/feature.js';
import { type JsonValue, jsonEquals } from '../json.js';
import type { UsageEvent } from './event.js';

/**
 * What one event contributes to a meter: nothing (another type, or filtered out), an amount
 * (`count`: 1; `sum`, `max`, `latest`: the property's number), a distinct value (`unique_count`),
 * or a reason it cannot count (a `sum` over a property that is not a number).
 */
export type MeterReading =
  | { kind: 'skip' }
  | { kind: 'amount'; amount: number }
  | { kind: 'distinct'; value: string }
  | { kind: 'invalid'; message: string };

const skip: MeterReading = { kind: 'skip' };
const one: MeterReading = { kind: 'amount', amount: 1 };

function matches(filter: Meter['filter'], properties: UsageEvent['properties']): boolean {
  if (filter === null) return true;
  for (const [key, expected] of Object.entries(filter)) {
    if (!jsonEquals(properties[key] as JsonValue | undefined, expected)) return false;
  }
  return true;
}

export function readMeter(input: { meter: Meter; event: UsageEvent }): MeterReading {
  const { meter, event } = input;
  if (event.type !== meter.eventType || !matches(meter.filter, event.properties)) return skip;
  if (meter.aggregation === 'count') return one;
  const property = meter.property ?? '';
  const value = event.properties[property];
  if (meter.aggregation === 'unique_count') {
    if (value === undefined || value === null) return { kind: 'invalid', message: `property "${property}" is missing` };
    return { kind: 'distinct', value: typeof value === 'string' ? value : JSON.stringify(value) };
  }
  // A numeric string ("12.5") is accepted: many producers send every property as text.
  const amount =
    typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  if (!Number.isFinite(amount)) {
    return { kind: 'invalid', message: `property "${property}" must be a number for ${meter.aggregation}` };
  }
  if (Math.abs(amount) > maxQuantity) {
    return { kind: 'invalid', message: `property "${property}" must be at most ${maxQuantity} in size` };
  }
  if (meter.aggregation === 'sum' && amount < 0) {
    return { kind: 'invalid', message: `property "${property}" must not be negative for sum` };
  }
  return { kind: 'amount', amount };
}
