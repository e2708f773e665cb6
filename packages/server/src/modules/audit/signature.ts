import { type KeyObject, verify } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { Selectable } from 'kysely';
import type { AuditCheckpointTable } from '../../db/schema.js';
import { toIso } from '../../json-column.js';
import { parsePublicKey } from './keys.js';

/**
 * What is signed: the RFC 8785 form of the checkpoint's facts, with a type naming what they are
 * so that the signature cannot be passed off as one over anything else.
 */
export function signedForm(checkpoint: { seq: number; hash: string; count: number; at: string }): Buffer {
  const { seq, hash, count, at } = checkpoint;
  return Buffer.from(canonicalize({ type: 'keymaster.audit_checkpoint', seq, hash, count, at })!, 'utf8');
}

/** Whether `signature` (base64) is an Ed25519 signature of the checkpoint's facts under `publicKey`. */
export function signatureHolds(
  checkpoint: { seq: number; hash: string; count: number; at: string; signature: string },
  publicKey: KeyObject,
): boolean {
  return verify(null, signedForm(checkpoint), publicKey, Buffer.from(checkpoint.signature, 'base64'));
}

/**
 * How the retention checkpoint verification starts from was vouched for: its signature holds
 * under the key given (`valid`), or, with no key given, under the public key it names itself
 * (`own_key`: shows it unedited since it was signed, not that it was signed with your key), or it
 * carries none (`unsigned`).
 */
export type StartSignature = 'valid' | 'own_key' | 'unsigned';

/**
 * Checks the retention checkpoint the chain starts from, as stored: verification trusts its `seq`
 * and hash, so its signature must hold over them, its count and its time — an edited checkpoint,
 * or one signed by another key, does not. With `publicKey` (the public half of
 * `KEYMASTER_AUDIT_SIGNING_KEY`, or an auditor's `--public-key`) the signature is checked under
 * it and an unsigned checkpoint is refused too (`unsigned: 'refuse'`): it may be one whose
 * signature was removed. Pruning accepts an unsigned start (`unsigned: 'accept'`), so that once a
 * key is set the next pruning stores a signed checkpoint and verification passes again. Without a
 * key, a signed checkpoint is checked under the key it names. A checkpoint with only one of a
 * signature and a public key was edited. Answers the reason when it fails, naming the checkpoint.
 */
export function checkStartSignature(input: {
  checkpoint: Selectable<AuditCheckpointTable>;
  publicKey: KeyObject | undefined;
  unsigned: 'accept' | 'refuse';
}): { ok: true; signature: StartSignature } | { ok: false; reason: string } {
  const { checkpoint, publicKey } = input;
  const named = `the retention checkpoint ${checkpoint.id} at seq ${checkpoint.seq}`;
  const fail = (why: string) => ({ ok: false as const, reason: `${named} ${why}` });
  const { signature } = checkpoint;
  if (signature === null) {
    if (checkpoint.public_key !== null) return fail('names a public key but carries no signature: it was edited');
    if (publicKey && input.unsigned === 'refuse') {
      return fail(
        'is not signed, though a signing key is set: its signature was removed, or it was made before the key was ' +
          '(the next pruning stores a signed one)',
      );
    }
    return { ok: true, signature: 'unsigned' };
  }
  const facts = { seq: checkpoint.seq, hash: checkpoint.hash, count: checkpoint.count, at: toIso(checkpoint.at)! };
  if (publicKey) {
    return signatureHolds({ ...facts, signature }, publicKey)
      ? { ok: true, signature: 'valid' }
      : fail(
          'does not match its signature under the signing key: its seq, hash, count or time was edited, or it was ' +
            'signed by another key',
        );
  }
  if (checkpoint.public_key === null) return fail('is signed but names no public key: it was edited');
  let own: KeyObject;
  try {
    own = parsePublicKey(checkpoint.public_key);
  } catch {
    return fail('names a public key that is not an Ed25519 key: it was edited');
  }
  return signatureHolds({ ...facts, signature }, own)
    ? { ok: true, signature: 'own_key' }
    : fail('does not match its signature under the key it names: its seq, hash, count or time was edited');
}
