import { describe, expect, it } from 'vitest';
import { runLogLines } from './test-support/run-log.js';

/**
 * Credentials by their shape: Keymaster's API keys (a redacted one reads `km_sk_[redacted]`, and
 * a key's 6-character display prefix is not the key), Standard Webhooks and Stripe signing
 * secrets, Stripe API keys, signed JWTs (customer tokens, portal links, sessions), and a password
 * field's value.
 */
const credentialShapes: [string, RegExp][] = [
  ['an API key', /km_(sk|pk)_[A-Za-z0-9_-]{16,}/],
  ['a webhook signing secret', /whsec_[A-Za-z0-9+/_-]{16,}/],
  ['a Stripe API key', /\b(sk|rk)_(test|live)_[A-Za-z0-9]{8,}/],
  ['a signed token', /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}/],
  ['a password', /"(password|client_secret|secret)"\s*:\s*"[^"]/i],
];

const lines = runLogLines();

/**
 * The run's last test (its own group in vitest.config.ts, after every other file): every line
 * every in-process test server logged during the whole run, searched for anything shaped like a
 * credential. Run on its own, it has no run to search and is skipped.
 */
describe.skipIf(lines === undefined || lines.length === 0)('the logs of every test server in this run', () => {
  it('hold no credential', () => {
    const leaks = lines!.flatMap((line) =>
      credentialShapes.filter(([, shape]) => shape.test(line)).map(([what]) => `${what}: ${line}`),
    );
    expect(leaks.slice(0, 20)).toEqual([]);
    // Something was searched: the run's servers answered requests.
    expect(lines!.some((line) => line.includes('"request completed"'))).toBe(true);
  });
});
