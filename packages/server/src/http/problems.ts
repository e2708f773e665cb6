import {
  DomainError,
  type ErrorCode,
  ErrorCodes,
  type ErrorKind,
  type FieldError,
  invalid,
  malformed,
} from '@keymaster/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { databaseUnavailable } from '../db/unavailable.js';

/** The one table from domain error kinds to HTTP statuses. */
export const statusByKind = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  unauthenticated: 401,
  forbidden: 403,
  unavailable: 503,
} as const satisfies Record<ErrorKind, number>;

/**
 * The problems only the HTTP layer raises — about the exchange itself (its size, media type or
 * timing), a credential, an Idempotency-Key, a limit — by code, with their statuses. A domain
 * error's code answers with the status of the error's kind (`statusByKind`) and is never listed
 * here (problems.test.ts checks it), so each code's status is decided in exactly one place.
 */
export const HttpProblems = {
  payload_too_large: 413,
  unsupported_media_type: 415,
  request_timeout: 408,
  headers_too_large: 431,
  uri_too_long: 414,
  token_expired: 401,
  token_revoked: 401,
  customer_token_forbidden: 403,
  customer_mismatch: 403,
  idempotency_replay_unavailable: 409,
  idempotency_secret_not_replayable: 409,
  rate_limited: 429,
  /** A console sign-in with an unknown address or a wrong password (which of the two is not said). */
  invalid_credentials: 401,
  /** A state-changing request of a console session without the session's `X-CSRF-Token`. */
  csrf_token_invalid: 403,
  /** A console user's role does not hold the permission the route needs. */
  role_forbidden: 403,
  /** A Stripe event was stored but applying it failed: 5xx, so that Stripe delivers it again. */
  stripe_event_failed: 503,
  internal: 500,
  /**
   * A client error Fastify or a plugin raised that no other code names (a conditional request
   * for a file of the API docs whose precondition fails): it keeps the status it was raised
   * with (412), which only its raiser knows.
   */
  bad_request: null,
} as const;
export type HttpProblemCode = keyof typeof HttpProblems;

/** The HTTP layer's codes whose status the table fixes (all but `bad_request`). */
type FixedStatusCode = {
  [Code in HttpProblemCode]: (typeof HttpProblems)[Code] extends number ? Code : never;
}[HttpProblemCode];

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** How much of a client's input an error may repeat back (a URL, a header, a field name). */
const echoLimit = 200;
/** How many field errors a problem lists: a body of 100,000 unknown fields gets the first ones. */
const fieldErrorLimit = 50;

/**
 * Client input as an error may repeat it: at most `echoLimit` characters, then an ellipsis, so a
 * 16 kB path or a 10,000-character field name does not come back whole in the answer (and logs).
 */
export function echo(input: string): string {
  if (input.length <= echoLimit) return input;
  // Never cut between the two halves of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(input[echoLimit - 1]!) ? echoLimit - 1 : echoLimit;
  return `${input.slice(0, end)}…`;
}

/**
 * What an error answer says. A problem written out by hand is held to the tables by the
 * compiler: its code must be a domain error's (with a status of `statusByKind`) or one of
 * `HttpProblems` (with the status listed there); anything else does not compile.
 */
export type ProblemInput = {
  detail: string;
  errors?: FieldError[] | undefined;
} & (
  | { status: (typeof statusByKind)[ErrorKind]; code: ErrorCode }
  | {
      [Code in HttpProblemCode]: {
        status: (typeof HttpProblems)[Code] extends number ? (typeof HttpProblems)[Code] : number;
        code: Code;
      };
    }[HttpProblemCode]
);

/** A problem the HTTP layer raises itself, with its status from `HttpProblems`. */
export function httpProblem(code: FixedStatusCode, detail: string): ProblemInput {
  // The status is the table's for this very code; the compiler cannot follow the lookup.
  return { status: HttpProblems[code], code, detail } as ProblemInput;
}

/** An RFC 9457 problem document: the body of every error answer. */
export function problemDocument(problem: ProblemInput & { requestId: string }) {
  return {
    type: `https://keymaster.dev/problems/${problem.code}`,
    title: titles[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.detail,
    code: problem.code,
    request_id: problem.requestId,
    ...(problem.errors ? { errors: problem.errors } : {}),
  };
}

/**
 * Seconds a client is asked to wait before retrying a 503: a lost database connection is
 * replaced on the next request, so a short wait is usually enough.
 */
export const retryAfterSeconds = 1;

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A route whose protocol has its own error shape (OFREP): the body to answer a problem with,
     * or undefined to answer the problem document. Every problem the route answers — from a
     * hook, the body parser, validation or the handler — goes through it, so a route cannot
     * answer in two formats (nor fail to serialise a problem against its error schema).
     */
    errorBody?: (input: { problem: ProblemInput; params: unknown }) => object | undefined;
  }
}

/** Sends an RFC 9457 problem document, or the route's own error shape (see `errorBody`); a 503 says when to retry. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: ProblemInput): FastifyReply {
  reply.header('x-request-id', request.id).status(problem.status);
  // A 503 also says when to retry.
  if (problem.status === 503) reply.header('retry-after', String(retryAfterSeconds));
  const own = request.routeOptions?.config?.errorBody?.({ problem, params: request.params });
  if (own !== undefined) return reply.type('application/json; charset=utf-8').send(own);
  return reply.type('application/problem+json').send(problemDocument({ ...problem, requestId: String(request.id) }));
}

/**
 * Input that fails its schema, as a domain error: every offending field (up to a limit), by JSON
 * pointer. Shared by the router and the code that reads a body itself (see `readEventBody`).
 */
export function schemaError(errors: AjvError[], part: string): DomainError {
  const all = fieldErrors(errors, part);
  const fields = all.slice(0, fieldErrorLimit);
  const more = all.length > fields.length ? `; and ${all.length - fields.length} more` : '';
  return invalid(fields, `${fields.map((e) => `${e.path}: ${e.message}`).join('; ')}${more}`);
}

/** The answer to input that fails its schema (see `schemaError`). */
export function validationProblem(errors: AjvError[], part: string): ProblemInput {
  return domainProblem(schemaError(errors, part));
}

/**
 * A body that is not JSON, with the parser's word on what is wrong — but not the excerpt of the
 * body it may quote (`Unexpected token 'S', ..."password":SECRET"... is not valid JSON`): a body
 * holds passwords and keys, and the answer is logged and shown.
 */
export function malformedJsonError(error: unknown): DomainError {
  if (!(error instanceof SyntaxError)) return malformed('Body is not valid JSON');
  const quoted = /(?:,\s*)?(?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s;
  if (!quoted.test(error.message)) return malformed(echo(error.message));
  const what = error.message.replace(quoted, '');
  return malformed(what === '' ? 'Body is not valid JSON' : `${echo(what)}: not valid JSON`);
}

/** The answer to a body that is not JSON (see `malformedJsonError`). */
export function malformedJsonProblem(error: unknown): ProblemInput {
  return domainProblem(malformedJsonError(error));
}

export function unsupportedMediaTypeProblem(type: string | undefined): ProblemInput {
  return httpProblem('unsupported_media_type', `Unsupported Media Type: ${echo(String(type))}`);
}

/** What a request without a valid key is told: the same, whatever was wrong with the key. */
export const unauthenticatedProblem: ProblemInput = domainProblem(
  new DomainError({
    kind: 'unauthenticated',
    code: ErrorCodes.unauthenticated,
    message: 'A valid API key is required: send it as "Authorization: Bearer <key>".',
  }),
);

export const internalProblem: ProblemInput = httpProblem(
  'internal',
  'Something went wrong on our side; the request id identifies it in the logs.',
);

export interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Ajv's errors as field errors with JSON pointers into the request body. */
function fieldErrors(errors: AjvError[], part: string): FieldError[] {
  const prefix = part === 'body' ? '' : `/${part}`;
  // Paths name the client's own fields (any property name it sent): echoed, so bounded.
  return errors.map((error) => {
    if (error.keyword === 'required') {
      return {
        path: echo(`${prefix}${error.instancePath}/${String(error.params.missingProperty)}`),
        message: 'is required',
      };
    }
    if (error.keyword === 'additionalProperty' || error.keyword === 'additionalProperties') {
      return {
        path: echo(`${prefix}${error.instancePath}/${String(error.params.additionalProperty)}`),
        message: 'is not a known field',
      };
    }
    if (error.keyword === 'enum') {
      const allowed = (error.params.allowedValues as unknown[] | undefined)?.map((v) => JSON.stringify(v)).join(', ');
      return { path: echo(`${prefix}${error.instancePath}`), message: `must be one of ${allowed}` };
    }
    return { path: echo(`${prefix}${error.instancePath}`) || '/', message: error.message ?? 'is invalid' };
  });
}

/** The problem a domain error answers as (the same in the router and the fast handlers). */
export function domainProblem(error: DomainError): ProblemInput {
  return { status: statusByKind[error.kind], code: error.code, detail: error.message, errors: error.errors };
}

/**
 * A thrown error as a domain error: itself, or `unavailable` when it is a database that could
 * not answer now (see db/unavailable.ts); undefined for anything else.
 */
export function asDomainError(error: unknown): DomainError | undefined {
  return error instanceof DomainError ? error : databaseUnavailable(error);
}

/** The error handler: domain errors by kind, validation by field, everything else a generic 500. */
export function handleError(error: FastifyError | DomainError | Error, request: FastifyRequest, reply: FastifyReply) {
  const domain = asDomainError(error);
  if (domain) {
    if (domain !== error) request.log.warn({ err: error }, 'database unavailable');
    return sendProblem(request, reply, domainProblem(domain));
  }
  const fastifyError = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (fastifyError.validation) {
    return sendProblem(
      request,
      reply,
      validationProblem(fastifyError.validation, fastifyError.validationContext ?? 'body'),
    );
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    // Fastify's messages quote what the client sent (a media type, a header).
    return sendProblem(request, reply, fastifyProblem(status, echo(error.message)));
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(request, reply, internalProblem);
}

/** The HTTP layer's codes for the client errors Fastify raises itself, found by their status. */
const fastifyCodes = ['payload_too_large', 'unsupported_media_type'] as const;

/**
 * A client error Fastify raised: a body it could not read (400, malformed like any unreadable
 * input), one too large, or of a media type no route takes; any other keeps its own status.
 */
function fastifyProblem(status: number, detail: string): ProblemInput {
  if (status === statusByKind.invalid) return domainProblem(malformed(detail));
  const code = fastifyCodes.find((candidate) => HttpProblems[candidate] === status);
  return code ? httpProblem(code, detail) : { status, code: 'bad_request', detail };
}
