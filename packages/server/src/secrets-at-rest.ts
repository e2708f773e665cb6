import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from 'node:crypto';

/**
 * Secrets Keymaster keeps in its database (webhook endpoints' signing secrets, the customer-token
 * secret) go through here on their way in and out: with KEYMASTER_ENCRYPTION_KEY set they are
 * stored AES-256-GCM encrypted, so a copy of the database (a backup, a replica, an analyst's
 * read access) holds no secret that signs anything. Without it they are stored as they are.
 *
 * A stored value says whether and under which key it is encrypted:
 *
 *     enc:v1:<key id>:<iv>:<ciphertext>:<tag>      (base64url parts)
 *
 * The key id names the key (a digest of it, never the key), so a value under a key this node
 * lacks fails with a message naming it rather than as garbage. Each value is bound to where it is
 * kept (its `context`, e.g. the endpoint's id, as GCM's additional data): a value copied to
 * another row does not decrypt there.
 *
 * Values without the `enc:` prefix are plaintext from before encryption was turned on (or with it
 * off); they keep working, and `isStale` tells the stores to rewrite them (see docs/secrets.md).
 */
export interface SecretsAtRest {
  /** Whether a key is set: values are then sealed. */
  readonly encrypting: boolean;
  /** What to store for `plain`: its envelope under the current key, or `plain` itself without one. */
  seal(plain: string, context: string): string;
  /** The secret a stored value holds; throws `SecretsAtRestError` when it cannot be read. */
  open(stored: string, context: string): string;
  /** Whether a stored value is not what `seal` writes now (plaintext under a key, another key, sealed with none). */
  isStale(stored: string): boolean;
}

/** A stored secret that cannot be read with the keys configured: the server must not start on it. */
export class SecretsAtRestError extends Error {
  override name = 'SecretsAtRestError';
}

const prefix = 'enc:';
const version = 'v1';

/** The keys from KEYMASTER_ENCRYPTION_KEY (seals and opens) and KEYMASTER_ENCRYPTION_KEY_PREVIOUS (opens only). */
export interface EncryptionKeys {
  readonly current: KeyObject | undefined;
  readonly previous: KeyObject | undefined;
}

/**
 * An encryption key from its configured form: 32 bytes in base64 (`openssl rand -base64 32`).
 * Throws with the reason otherwise.
 */
export function parseEncryptionKey(text: string): KeyObject {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new Error('not base64');
  const bytes = Buffer.from(trimmed, 'base64');
  if (bytes.length !== 32) throw new Error(`${bytes.length} bytes, not 32`);
  return createSecretKey(bytes);
}

/** A short public name for a key (8 hex digits of an HMAC under it): tells keys apart, reveals nothing of them. */
export function keyIdOf(key: KeyObject): string {
  return createHmac('sha256', key.export()).update('keymaster encryption key id').digest('hex').slice(0, 8);
}

export function secretsAtRest(keys: EncryptionKeys): SecretsAtRest {
  const current = keys.current && { id: keyIdOf(keys.current), key: keys.current };
  const previous = keys.previous && { id: keyIdOf(keys.previous), key: keys.previous };
  const byId = new Map([previous, current].filter((k) => k !== undefined).map((k) => [k.id, k.key]));
  const additionalData = (keyId: string, context: string) => Buffer.from(`${version}:${keyId}:${context}`);

  const describeKeys = () => {
    if (!current && !previous) return 'KEYMASTER_ENCRYPTION_KEY is not set';
    const named = [
      current ? `KEYMASTER_ENCRYPTION_KEY is key ${current.id}` : 'KEYMASTER_ENCRYPTION_KEY is not set',
      previous
        ? `KEYMASTER_ENCRYPTION_KEY_PREVIOUS is key ${previous.id}`
        : 'KEYMASTER_ENCRYPTION_KEY_PREVIOUS is not set',
    ];
    return named.join(' and ');
  };

  return {
    encrypting: current !== undefined,

    seal(plain, context) {
      if (!current) return plain;
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(additionalData(current.id, context));
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const parts = [iv, ciphertext, cipher.getAuthTag()].map((part) => part.toString('base64url'));
      return `${prefix}${version}:${current.id}:${parts.join(':')}`;
    },

    open(stored, context) {
      if (!stored.startsWith(prefix)) return stored;
      const [envelopeVersion, keyId, iv, ciphertext, tag, ...rest] = stored.slice(prefix.length).split(':');
      if (envelopeVersion !== version || rest.length > 0 || !keyId || iv === undefined || !ciphertext || !tag) {
        throw new SecretsAtRestError(
          `A secret in the database (${context}) is stored in a form this Keymaster does not read ` +
            `(enc:${envelopeVersion ?? ''}…): was it written by a newer version?`,
        );
      }
      const key = byId.get(keyId);
      if (!key) {
        throw new SecretsAtRestError(
          `A secret in the database (${context}) is encrypted with key ${keyId}, but ${describeKeys()}. ` +
            'Start with the key it was encrypted with (in KEYMASTER_ENCRYPTION_KEY, or in ' +
            'KEYMASTER_ENCRYPTION_KEY_PREVIOUS while moving to a new one).',
        );
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
        decipher.setAAD(additionalData(keyId, context));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString(
          'utf8',
        );
      } catch {
        throw new SecretsAtRestError(
          `A secret in the database (${context}) does not decrypt with key ${keyId}: ` +
            'the stored value was altered, or copied from another row.',
        );
      }
    },

    isStale(stored) {
      if (!stored.startsWith(prefix)) return current !== undefined;
      return current === undefined || !stored.startsWith(`${prefix}${version}:${current.id}:`);
    },
  };
}

/** No key: values are stored as they are (and an encrypted one cannot be read). */
export const plaintextSecrets: SecretsAtRest = secretsAtRest({ current: undefined, previous: undefined });
