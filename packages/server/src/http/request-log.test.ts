import { describe, expect, it } from 'vitest';
import { redactUrl } from './request-log.js';

describe('redactUrl', () => {
  it.each([
    ['/v1/stream?customer=acme&access_token=eyJa.b.c', '/v1/stream?customer=acme&access_token=[redacted]'],
    ['/v1/stream?access_token=eyJa.b.c&customer=acme', '/v1/stream?access_token=[redacted]&customer=acme'],
    ['/v1/stream?customer=acme', '/v1/stream?customer=acme'],
    ['/v1/features', '/v1/features'],
  ])('%s', (url, logged) => expect(redactUrl(url)).toBe(logged));
});
