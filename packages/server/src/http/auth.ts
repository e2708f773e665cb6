import type { Principal } from '../modules/api-keys/service.js';
import { looksLikeCustomerToken, type TokenVerdict } from '../modules/customer-tokens/service.js';
import type { Concern, Exchange, Refusal } from './concerns.js';
import { httpProblem, type ProblemInput, unauthenticatedProblem } from './problems.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | undefined;
  }
  interface FastifyContextConfig {
    /**
     * Where the customer a request is about is named, on the few routes a customer token may
     * call; a customer token is refused on every route without it.
     */
    customerScope?: 'params.id' | 'body.customer' | 'query.customer' | 'body.context.targetingKey';
    /** The credential may come as `?access_token=` (EventSource cannot send headers). */
    queryToken?: boolean;
    /**
     * A webhook from another system, authenticated by the signature over its body (which its
     * handler verifies, before reading anything) instead of an API key: the sender has none.
     */
    signedWebhook?: boolean;
  }
}

/** Who a credential authenticates, or the problem to answer with (and whether to challenge). */
export type AuthOutcome = { principal: Principal } | { problem: ProblemInput };

/** Resolves a bearer credential: synchronously for secret keys (the hot path), async for tokens. */
export type Authenticator = (credential: string | undefined) => AuthOutcome | Promise<AuthOutcome>;

const tokenProblems: Record<Exclude<TokenVerdict, { valid: true }>['reason'], ProblemInput> = {
  invalid: unauthenticatedProblem,
  expired: httpProblem('token_expired', 'The customer token has expired: ask your backend for a new one.'),
  revoked: httpProblem('token_revoked', 'The customer this token was issued for no longer exists.'),
};

export const customerTokenForbidden: ProblemInput = httpProblem(
  'customer_token_forbidden',
  "A customer token may only read its customer's entitlements, check and stream; this route needs a secret API key.",
);

/** The answer when a customer token names a customer other than its own. */
export function customerMismatch(input: { token: string; requested: string | undefined }): ProblemInput {
  return httpProblem(
    'customer_mismatch',
    input.requested === undefined
      ? `A customer token must name its customer: add ?customer=${encodeURIComponent(input.token)}.`
      : `This customer token is for customer "${input.token}"; it cannot read customer "${input.requested}".`,
  );
}

/** The credential of an `Authorization: Bearer <credential>` header, if there is one. */
export function bearerCredential(header: string | undefined): string | undefined {
  return header !== undefined && header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer '
    ? header.slice(7).trim()
    : undefined;
}

export function createAuthenticator(deps: {
  apiKey: (secret: string) => Principal | undefined;
  customerToken: (token: string) => Promise<TokenVerdict>;
}): Authenticator {
  const unauthenticated: AuthOutcome = { problem: unauthenticatedProblem };
  return (credential) => {
    if (credential === undefined || credential === '') return unauthenticated;
    if (!looksLikeCustomerToken(credential)) {
      const principal = deps.apiKey(credential);
      return principal ? { principal } : unauthenticated;
    }
    return deps.customerToken(credential).then((verdict) =>
      verdict.valid
        ? {
            principal: { keyId: `token:${verdict.tokenId}`, customer: verdict.customer, expiresAt: verdict.expiresAt },
          }
        : { problem: tokenProblems[verdict.reason] },
    );
  };
}

/**
 * The credential a request presents: its bearer header, or on routes that allow it a customer
 * token in `?access_token=`.
 */
export function presentedCredential(request: Pick<Exchange, 'headers' | 'config' | 'query'>): string | undefined {
  const credential = bearerCredential(request.headers.authorization);
  if (credential !== undefined || !request.config.queryToken) return credential;
  // Only customer tokens travel in URLs (which end up in logs and histories); never secret keys.
  const fromQuery = (request.query as { access_token?: unknown } | undefined)?.access_token;
  return typeof fromQuery === 'string' && looksLikeCustomerToken(fromQuery) ? fromQuery : undefined;
}

/** Whom an authentication outcome admits onto the exchange's route, or why not. */
function admit(exchange: Exchange, outcome: AuthOutcome): Refusal {
  if ('problem' in outcome) {
    // 401s carry the Bearer challenge.
    if (outcome.problem.status === 401) exchange.header('www-authenticate', 'Bearer realm="keymaster"');
    return outcome.problem;
  }
  if (outcome.principal.customer !== undefined && exchange.config.customerScope === undefined)
    return customerTokenForbidden;
  exchange.principal = outcome.principal;
  return undefined;
}

/**
 * Every route in its scope needs a credential: a secret key, or on the routes that declare a
 * `customerScope` a customer token; a `signedWebhook` route's is the signature its handler checks. A missing, malformed, unknown or revoked key all get the
 * same answer, so the response never hints which it was. Secret keys answer synchronously.
 */
export function authentication(authenticate: Authenticator): Concern {
  return {
    name: 'authentication',
    onRequest(exchange) {
      if (exchange.config.signedWebhook) return undefined;
      const outcome = authenticate(presentedCredential(exchange));
      return outcome instanceof Promise ? outcome.then((o) => admit(exchange, o)) : admit(exchange, outcome);
    },
  };
}

/**
 * The part of a caller's targeting context a customer token may set: only the keys the operator
 * listed (KEYMASTER_CLIENT_CONTEXT_KEYS), plus OFREP's `targetingKey`, which names the customer and
 * is checked against the token. Anything else is dropped: a token is held by the customer's
 * browser, and a context key such as `{"beta": true}` would otherwise let the customer satisfy a
 * targeting rule on a trait it does not have and grant itself a feature. Stored traits win over
 * whatever remains, as for every caller.
 */
export function tokenContext(context: unknown, allowed: ReadonlySet<string>): unknown {
  if (context === null || typeof context !== 'object' || Array.isArray(context)) return context;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(context)) {
    if (key === 'targetingKey' || allowed.has(key)) kept[key] = value;
  }
  return kept;
}

/**
 * After validation: a customer token reads only its own customer, named where the route's
 * `customerScope` says, and sets only the context keys it is allowed to (see `tokenContext`).
 */
export function customerScope(input: { clientContextKeys: readonly string[] }): Concern {
  const allowed = new Set(input.clientContextKeys);
  return {
    name: 'customer scope',
    preHandler(exchange, { body: sent, params, query }) {
      const token = exchange.principal?.customer;
      if (token === undefined) return undefined;
      const where = exchange.config.customerScope;
      const body = sent as { customer?: string; context?: { targetingKey?: string } } | undefined;
      const requested =
        where === 'params.id'
          ? (params as { id?: string }).id
          : where === 'body.customer'
            ? body?.customer
            : where === 'body.context.targetingKey'
              ? body?.context?.targetingKey
              : (query as { customer?: string }).customer;
      if (requested !== token) return customerMismatch({ token, requested });
      if (body !== null && typeof body === 'object' && body.context !== undefined) {
        body.context = tokenContext(body.context, allowed) as typeof body.context;
      }
      return undefined;
    },
  };
}
