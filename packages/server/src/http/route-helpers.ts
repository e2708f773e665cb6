import { Problem } from '@keymaster/contract';
import type { TSchema } from '@sinclair/typebox';

/** Problem responses every authenticated route can give, for the OpenAPI document. */
export const problemResponses: Record<400 | 401 | 404 | 409, TSchema> = {
  400: { ...Problem, description: 'The request is invalid; `errors` names each field.' },
  401: { ...Problem, description: 'No valid API key.' },
  404: { ...Problem, description: 'Not found.' },
  409: { ...Problem, description: 'Conflicts with the current state (or an Idempotency-Key reuse).' },
};

export const security = [{ bearerAuth: [] }];
