import { randomBytes, type ScryptOptions, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Console passwords, hashed with scrypt (Node's own, RFC 7914): a random 16-byte salt per
 * password, N = 2^15, r = 8, p = 1 (32 MiB and about 100 ms a hash), kept as
 * `scrypt$N$r$p$salt$hash` (base64url) so the parameters can be raised later without losing the
 * passwords hashed before.
 */
const defaults = { N: 2 ** 15, r: 8, p: 1 } as const;
const keyLength = 32;

/** Passwords shorter than this are refused (NIST SP 800-63B's minimum for chosen secrets). */
export const minimumPasswordLength = 8;
/** And longer than this (scrypt's input is the whole password: no unbounded work for a request). */
export const maximumPasswordLength = 256;

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password.normalize('NFKC'),
      salt,
      keyLength,
      { ...options, maxmem: 128 * options.N! * options.r! * 2 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, defaults);
  return ['scrypt', defaults.N, defaults.r, defaults.p, salt.toString('base64url'), key.toString('base64url')].join(
    '$',
  );
}

/** Whether `password` is the one `stored` was made from (in constant time). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await derive(password, Buffer.from(salt, 'base64url'), { N: Number(n), r: Number(r), p: Number(p) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash to verify against when no user has the address, so a miss takes as long as a hit. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  return decoy;
}
