import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** How long a rotated-out secret keeps signing beside the new one. */
export const rotationOverlapMs = 24 * 60 * 60 * 1000;

/** A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * The three Standard Webhooks headers for one attempt. `webhook-id` is the event id, so every
 * attempt (and every endpoint) carries the same one and a receiver can drop repeats. While a
 * rotation's overlap runs, the signature header holds one signature per secret, space-separated:
 * a receiver verifying with either secret accepts it.
 */
export function signedHeaders(input: {
  eventId: string;
  body: string;
  at: number;
  secrets: readonly string[];
}): Record<string, string> {
  const timestamp = new Date(input.at);
  return {
    'webhook-id': input.eventId,
    'webhook-timestamp': String(Math.floor(input.at / 1000)),
    'webhook-signature': input.secrets
      .map((secret) => new Webhook(secret).sign(input.eventId, timestamp, input.body))
      .join(' '),
  };
}
