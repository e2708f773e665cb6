import { randomBytes } from 'node:crypto';

export const requestIdPattern = /^[\w.:-]{1,128}$/;

const processPrefix = randomBytes(6).toString('hex');
let counter = 0;

/**
 * The id of a request: the caller's `x-request-id` when it is sane, otherwise a new one. New ids
 * are a random per-process prefix and a counter — unique across nodes and restarts without
 * drawing randomness on every request (checks are too frequent for that to be free).
 */
export function requestIdFor(incoming: string | string[] | undefined): string {
  if (typeof incoming === 'string' && requestIdPattern.test(incoming)) return incoming;
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${processPrefix}-${counter.toString(36)}`;
}
