import type { FastifySchema } from 'fastify';
import type { Principal } from '../modules/api-keys/service.js';
import { looksLikeCustomerToken, type TokenVerdict } from '../modules/customer-tokens/service.js';
import { type PortalGrant, type PortalVerdict, portalTokenOf } from '../modules/portal/tokens.js';
import { allows, permissionFor, routePermission, scopeFor } from '../modules/users/permissions.js';
import type { SessionUser } from '../modules/users/service.js';
import { sessionTokenOf } from '../modules/users/session-cookie.js';
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
     * The request is signed by its sender (an inbound webhook) and the signature is its
     * credential: the route verifies it against the body's bytes, so it needs no API key. A key
     * sent anyway is still checked.
     */
    signed?: boolean;
    /**
     * The route needs no credential (the console's sign-in; a session cookie is not looked at). A
     * key sent anyway is still checked.
     */
    anonymous?: boolean;
    /**
     * A customer portal route: its credential is a portal session (the `km_portal` cookie, or the
     * portal token as a bearer), and nothing else is accepted.
     */
    portal?: boolean;
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
  const { principal } = outcome;
  if (principal.customer !== undefined && exchange.config.customerScope === undefined) return customerTokenForbidden;
  if (principal.permissions !== undefined) {
    const needed = routePermission(exchange.method, exchange.route);
    if (!principal.permissions.has(needed)) return scopeMissing(exchange, scopeFor(needed));
  }
  exchange.principal = principal;
  return undefined;
}

/** The answer to a key used outside its scopes: which scope the route needs. */
function scopeMissing(exchange: Exchange, scope: string): ProblemInput {
  return {
    status: 403,
    code: 'forbidden',
    detail: `This API key lacks the "${scope}" scope, which ${exchange.method} ${exchange.route} needs.`,
  };
}

const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A console session onto the exchange's route: the session must be live, a request that changes
 * something must echo the session's CSRF token in `X-CSRF-Token` (a cross-site form cannot read
 * it, so it cannot send it), and the user's role must hold the route's permission.
 */
function admitSession(exchange: Exchange, user: SessionUser | undefined): Refusal {
  if (user === undefined) return unauthenticatedProblem;
  if (!safeMethods.has(exchange.method) && exchange.headers['x-csrf-token'] !== user.csrfToken) {
    return httpProblem(
      'csrf_token_invalid',
      "Send the session's CSRF token as X-CSRF-Token (see GET /v1/sessions/current).",
    );
  }
  if (!allows(user.role, exchange.method, exchange.route)) {
    return httpProblem(
      'role_forbidden',
      `The ${user.role} role may not ${exchange.method} ${exchange.route}: it needs ${permissionFor(exchange.method, exchange.route)}.`,
    );
  }
  exchange.principal = { keyId: `user:${user.userId}`, user };
  return undefined;
}

/** Verifies a portal token (see modules/portal/tokens.ts). */
export interface PortalVerifier {
  verify(token: string): Promise<PortalVerdict>;
  csrfMatches(grant: PortalGrant, presented: string | undefined): boolean;
}

const portalProblems: Record<Exclude<PortalVerdict, { valid: true }>['reason'], ProblemInput> = {
  invalid: { ...unauthenticatedProblem, detail: 'No valid portal session: open the portal again from the app.' },
  expired: httpProblem('token_expired', 'This portal session has expired: open the portal again from the app.'),
  revoked: httpProblem('token_revoked', 'The customer of this portal session no longer exists.'),
};

/**
 * A portal route's credential: the portal token as a bearer (an embedded component), or the
 * `km_portal` cookie, with the session's CSRF token echoed on every change. Nothing else opens
 * these routes, and a portal token opens nothing else (its audience is not a customer token's).
 */
async function admitPortal(exchange: Exchange, portal: PortalVerifier): Promise<Refusal> {
  const bearer = bearerCredential(exchange.headers.authorization);
  const token = bearer ?? portalTokenOf(exchange.headers.cookie);
  if (token === undefined) return portalProblems.invalid;
  const verdict = await portal.verify(token);
  if (!verdict.valid) return portalProblems[verdict.reason];
  if (bearer === undefined && !safeMethods.has(exchange.method)) {
    if (!portal.csrfMatches(verdict.grant, exchange.headers['x-csrf-token'] as string | undefined)) {
      return httpProblem('csrf_token_invalid', "Send the portal session's CSRF token as X-CSRF-Token.");
    }
  }
  exchange.principal = { keyId: `portal:${verdict.grant.tokenId}`, portal: verdict.grant };
  return undefined;
}

/**
 * Every route in its scope needs a credential: a secret key, or on the routes that declare a
 * `customerScope` a customer token. A missing, malformed, unknown or revoked key all get the
 * same answer, so the response never hints which it was. Secret keys answer synchronously.
 * A `signed` route (an inbound webhook) lets a request without a credential through to verify
 * its signature itself.
 */
export function authentication(
  authenticate: Authenticator,
  session?: (token: string) => Promise<SessionUser | undefined>,
  portal?: PortalVerifier,
): Concern {
  return {
    name: 'authentication',
    onRequest(exchange) {
      if (exchange.config.portal) {
        const refused = portal ? admitPortal(exchange, portal) : Promise.resolve(portalProblems.invalid);
        return refused.then((problem) => {
          if (problem?.status === 401) exchange.header('www-authenticate', 'Bearer realm="keymaster"');
          return problem;
        });
      }
      const credential = presentedCredential(exchange);
      if (credential === undefined && (exchange.config.signed || exchange.config.anonymous)) return undefined;
      if (credential === undefined && session !== undefined) {
        const token = sessionTokenOf(exchange.headers.cookie);
        if (token !== undefined) return session(token).then((user) => admitSession(exchange, user));
      }
      const outcome = authenticate(credential);
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

/**
 * The OpenAPI document's transform: every operation a secret key opens declares, in its bearer
 * security requirement (OpenAPI 3.1 lists role names there), the scope a key needs for it, from
 * the same table the server enforces (modules/users/permissions.ts), and says so in its
 * description.
 */
export function declareScopes(input: {
  schema: FastifySchema;
  url: string;
  route: { method: string | string[]; config?: unknown };
}): {
  schema: FastifySchema;
  url: string;
} {
  const schema = input.schema as
    | (FastifySchema & { security?: Record<string, string[]>[]; description?: string })
    | undefined;
  const methods = Array.isArray(input.route.method) ? input.route.method : [input.route.method];
  const method = methods.find((m) => m !== 'HEAD') ?? methods[0]!;
  // A portal route's bearer is the portal session's token, never a key.
  const portal = (input.route.config as { portal?: boolean } | undefined)?.portal === true;
  if (portal || schema?.security === undefined || !schema.security.some((requirement) => 'bearerAuth' in requirement)) {
    return { schema: input.schema, url: input.url };
  }
  const scope = scopeFor(routePermission(method, input.url));
  const needs = `Needs an API key with the \`${scope}\` scope${scope === 'admin' ? '' : ' (or `admin`)'}.`;
  return {
    schema: {
      ...schema,
      security: schema.security.map((requirement) =>
        'bearerAuth' in requirement ? { bearerAuth: [scope] } : requirement,
      ),
      description: schema.description ? `${schema.description}\n\n${needs}` : needs,
    },
    url: input.url,
  };
}
