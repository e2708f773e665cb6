import { describe, expect, it } from 'vitest';
import { maxFutureSkewMs, readCloudEvent, readEvent } from './event.js';

const now = Date.parse('2026-06-15T12:00:00.000Z');

describe('readEvent', () => {
  it('reads a full event', () => {
    expect(
      readEvent({
        raw: {
          id: 'e1',
          customer: 'acme',
          type: 'api_call',
          timestamp: '2026-06-15T11:00:00Z',
          properties: { tokens: 5 },
        },
        now,
      }),
    ).toEqual({
      event: {
        source: '',
        id: 'e1',
        customerId: 'acme',
        type: 'api_call',
        timestamp: Date.parse('2026-06-15T11:00:00Z'),
        properties: { tokens: 5 },
      },
    });
  });

  it('dates an event without a timestamp now, with no properties', () => {
    expect(readEvent({ raw: { id: 'e1', customer: 'acme', type: 'api_call' }, now })).toMatchObject({
      event: { timestamp: now, properties: {} },
    });
  });

  it.each<[string, unknown, string[]]>([
    ['not an object', 'x', ['']],
    ['no id', { customer: 'acme', type: 't' }, ['/id']],
    ['no customer', { id: 'e', type: 't' }, ['/customer']],
    ['an empty type', { id: 'e', customer: 'acme', type: '' }, ['/type']],
    ['a numeric id', { id: 5, customer: 'acme', type: 't' }, ['/id']],
    ['an id too long', { id: 'x'.repeat(256), customer: 'acme', type: 't' }, ['/id']],
    ['a bad timestamp', { id: 'e', customer: 'acme', type: 't', timestamp: 'yesterday' }, ['/timestamp']],
    ['properties that are a list', { id: 'e', customer: 'acme', type: 't', properties: [1] }, ['/properties']],
    ['an unknown field', { id: 'e', customer: 'acme', type: 't', value: 3 }, ['/value']],
    ['everything wrong at once', {}, ['/id', '/customer', '/type']],
  ])('reports %s', (_name, raw, paths) => {
    const result = readEvent({ raw, now });
    expect('errors' in result && result.errors.map((e) => e.path)).toEqual(paths);
  });

  it('refuses an event dated beyond the allowed clock skew, and takes one just inside it', () => {
    const at = (ms: number) => new Date(ms).toISOString();
    const late = readEvent({
      raw: { id: 'e', customer: 'acme', type: 't', timestamp: at(now + maxFutureSkewMs + 1000) },
      now,
    });
    expect('errors' in late && late.errors[0]).toEqual({ path: '/timestamp', message: 'is too far in the future' });
    const skewed = readEvent({
      raw: { id: 'e', customer: 'acme', type: 't', timestamp: at(now + maxFutureSkewMs) },
      now,
    });
    expect('event' in skewed).toBe(true);
  });

  it('takes a late event with its own timestamp, however old', () => {
    const result = readEvent({ raw: { id: 'e', customer: 'acme', type: 't', timestamp: '2025-01-01T00:00:00Z' }, now });
    expect('event' in result && result.event.timestamp).toBe(Date.parse('2025-01-01T00:00:00Z'));
  });
});

describe('readCloudEvent', () => {
  const cloudEvent = {
    specversion: '1.0',
    id: 'ce-1',
    source: '/billing/llm-gateway',
    type: 'llm.tokens',
    subject: 'acme',
    time: '2026-06-15T11:30:00Z',
    datacontenttype: 'application/json',
    data: { model: 'large', tokens: 1200 },
  };

  it('maps subject, type, time, data and source + id', () => {
    expect(readCloudEvent({ raw: cloudEvent, now })).toEqual({
      event: {
        source: '/billing/llm-gateway',
        id: 'ce-1',
        customerId: 'acme',
        type: 'llm.tokens',
        timestamp: Date.parse('2026-06-15T11:30:00Z'),
        properties: { model: 'large', tokens: 1200 },
      },
    });
  });

  it.each([
    ['a missing subject', { subject: undefined }, ['/subject']],
    ['a missing source', { source: undefined }, ['/source']],
    ['another spec version', { specversion: '0.3' }, ['/specversion']],
    ['data that is not an object', { data: 'text' }, ['/data']],
    ['binary data', { data_base64: 'AAAA' }, ['/data_base64']],
  ])('reports %s', (_name, change, paths) => {
    const result = readCloudEvent({ raw: { ...cloudEvent, ...change }, now });
    expect('errors' in result && result.errors.map((e) => e.path)).toEqual(paths);
  });
});
