import { describe, expect, it } from 'vitest';
import { eventBatchBody } from './event-batches.js';

const spec = { runId: 'run1', customers: ['a', 'b', 'c'], size: 10, type: 'api_call', duplicateShare: 0 };
const parse = (body: string) =>
  (JSON.parse(body) as { events: { id: string; customer: string; type: string; properties: unknown }[] }).events;

describe('eventBatchBody', () => {
  it('writes a valid POST /v1/events body of `size` events of the meter type', () => {
    const events = parse(eventBatchBody(spec, 0));
    expect(events).toHaveLength(10);
    expect(events[0]).toEqual({ id: 'run1-0-0', customer: 'a', type: 'api_call', properties: { units: 1 } });
    expect(new Set(events.map((e) => e.type))).toEqual(new Set(['api_call']));
  });

  it('never repeats an id across batches when nothing is meant to repeat', () => {
    const ids = [0, 1, 2].flatMap((sequence) => parse(eventBatchBody(spec, sequence)).map((e) => e.id));
    expect(new Set(ids).size).toBe(30);
  });

  it('draws random UUIDs for new events when asked, still repeating the repeated share', () => {
    const random = { ...spec, ids: 'random' as const, duplicateShare: 0.2 };
    const first = parse(eventBatchBody(random, 0)).map((e) => e.id);
    const second = parse(eventBatchBody(random, 1)).map((e) => e.id);
    expect(first.slice(0, 2)).toEqual(second.slice(0, 2));
    expect(first.slice(2)).toEqual(expect.arrayContaining([expect.stringMatching(/^[0-9a-f-]{36}$/)]));
    expect(new Set([...first, ...second]).size).toBe(18);
  });

  it('repeats the same share of ids in every batch', () => {
    const heavy = { ...spec, duplicateShare: 0.9 };
    const first = parse(eventBatchBody(heavy, 0)).map((e) => e.id);
    const second = parse(eventBatchBody(heavy, 1)).map((e) => e.id);
    expect(second.filter((id) => first.includes(id))).toHaveLength(9);
    expect(new Set([...first, ...second]).size).toBe(11);
  });

  it('rotates customers across batches, every customer in turn', () => {
    const customers = [0, 1, 2].flatMap((sequence) => parse(eventBatchBody(spec, sequence)).map((e) => e.customer));
    expect(customers.filter((c) => c === 'a')).toHaveLength(10);
    expect(customers.slice(0, 4)).toEqual(['a', 'b', 'c', 'a']);
    expect(customers[10]).toBe('b');
  });

  it('escapes customer ids and types as JSON', () => {
    const odd = { ...spec, customers: ['quote"d'], type: 'back\\slash', size: 1 };
    expect(parse(eventBatchBody(odd, 0))[0]).toMatchObject({ customer: 'quote"d', type: 'back\\slash' });
  });
});
