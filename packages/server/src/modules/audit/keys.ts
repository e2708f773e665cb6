import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

/**
 * The Ed25519 private key that signs checkpoints, from `KEYMASTER_AUDIT_SIGNING_KEY`: a PEM
 * (`openssl genpkey -algorithm ed25519`; `\n` may stand for its line breaks) or its PKCS#8 DER in
 * base64. Throws with the reason when it is not one.
 */
export function parseSigningKey(raw: string): KeyObject {
  const text = raw.trim();
  const key = text.includes('-----BEGIN')
    ? createPrivateKey(text.replaceAll('\\n', '\n'))
    : createPrivateKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it is an ${key.asymmetricKeyType} key, not ed25519`);
  return key;
}

/**
 * A public key to check signatures with: a PEM public key (`openssl pkey -pubout`), a PEM private
 * key (its public half is taken), or SPKI DER in base64 (a checkpoint's `public_key`).
 */
export function parsePublicKey(raw: string): KeyObject {
  const text = raw.trim();
  let key: KeyObject;
  if (text.includes('PRIVATE KEY')) key = createPublicKey(parseSigningKey(text));
  else if (text.includes('-----BEGIN')) key = createPublicKey(text.replaceAll('\\n', '\n'));
  else key = createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`it is an ${key.asymmetricKeyType} key, not ed25519`);
  return key;
}

/** The public half of a key in the form checkpoints carry: SPKI DER, base64. */
export function publicKeyText(key: KeyObject): string {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
}
