import { Problem } from '@keymaster/contract';
import type { TSchema } from '@sinclair/typebox';

/** A problem response as it is sent: `application/problem+json`, in the OpenAPI document too. */
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: Problem as TSchema } },
});

/** A 429, on routes that limit something per credential. */
export function rateLimitedResponse(description: string) {
  return {
    ...problem(`${description} \`Retry-After\` says when to try again.`),
    headers: { 'retry-after': { type: 'integer', description: 'Seconds to wait before retrying.' } },
  };
}

/** Problem responses every authenticated route can give, for the OpenAPI document. */
export const problemResponses = {
  400: problem('The request is invalid; `errors` names each field.'),
  401: problem('No valid API key (or customer token).'),
  403: problem(
    'An API key without the scope the route needs (`forbidden`), or a customer token used outside its customer or on a route it does not open.',
  ),
  404: problem('Not found.'),
  409: problem('Conflicts with the current state (or an Idempotency-Key reuse).'),
  429: rateLimitedResponse(
    'Past the rate limit of the key, console user or customer (`KEYMASTER_RATE_LIMIT`, `KEYMASTER_CUSTOMER_RATE_LIMIT`; see docs/limits.md).',
  ),
  503: {
    ...problem('The database is unreachable or did not answer in time: retry after `Retry-After` seconds.'),
    headers: { 'retry-after': { type: 'integer', description: 'Seconds to wait before retrying.' } },
  },
};

export const security = [{ bearerAuth: [] }];
