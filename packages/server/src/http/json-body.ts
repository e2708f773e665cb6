import type { IncomingMessage } from 'node:http';
import { malformed } from '@keymaster/core';
import secureJson from 'secure-json-parse';
import { httpProblem, malformedJsonError, type ProblemInput } from './problems.js';

/**
 * Request bodies, read and parsed one way for every route: the router's JSON parser, the plain
 * dispatch of checks and consumes, `POST /v1/events` (parsed off the event loop, see
 * event-body.ts) and the CLI's import of event lines all come through here.
 */

/** An error that answers as its problem (the router's error handler and the plain dispatch both send it). */
export class BodyError extends Error {
  readonly statusCode: number;
  constructor(readonly problem: ProblemInput) {
    super(problem.detail);
    this.statusCode = problem.status;
  }
}

const tooLargeProblem: ProblemInput = httpProblem('payload_too_large', 'Request body is too large');

/** Whether a declared size is already over the limit (the body is then never read). */
function declaredTooLarge(request: IncomingMessage, limitBytes: number): boolean {
  return Number(request.headers['content-length'] ?? 0) > limitBytes;
}

/**
 * Reads a request's body as bytes, up to `limitBytes`: past it, the rest is drained unread and
 * `done` gets the 413. Callback-style, with a context for `done` (so `done` can be made once
 * rather than per request): a check's body arrives in one chunk, and a promise or a closure here
 * would cost a noticeable part of the check. A client that goes away mid-body is not answered.
 */
export function readBody<C>(
  request: IncomingMessage,
  limitBytes: number,
  context: C,
  done: (context: C, problem: ProblemInput | undefined, body: Buffer) => void,
): void {
  if (declaredTooLarge(request, limitBytes)) {
    request.resume();
    done(context, tooLargeProblem, empty);
    return;
  }
  // Bodies are small: keep the first chunk as is and concatenate only when there are more.
  let first: Buffer | undefined;
  let rest: Buffer[] | undefined;
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limitBytes) {
      request.removeListener('data', onData);
      request.removeListener('end', onEnd);
      request.resume();
      done(context, tooLargeProblem, empty);
      return;
    }
    if (first === undefined) first = chunk;
    else if (rest === undefined) rest = [first, chunk];
    else rest.push(chunk);
  };
  const onEnd = () => done(context, undefined, rest ? Buffer.concat(rest) : (first ?? empty));
  request.on('data', onData);
  request.on('end', onEnd);
}

const empty = Buffer.alloc(0);

/** The same, as a promise, for the router's parsers (whose bodies are not on the hot path). */
export function readBodyAsync(request: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request.once('error', reject);
    readBody(request, limitBytes, undefined, (_, problem, body) =>
      problem ? reject(new BodyError(problem)) : resolve(body),
    );
  });
}

/**
 * How deeply JSON may nest objects and arrays: far more than any body of this API needs, and few
 * enough that no code walking a parsed value (validation, canonical forms, serialisation) can run
 * out of stack on one.
 */
export const maxJsonDepth = 64;

/**
 * Whether JSON text opens more than `maxJsonDepth` objects or arrays within each other, counted
 * on the text in one pass, before it is parsed (and without recursion, whatever the depth).
 * Brackets inside strings do not count.
 */
function nestsTooDeep(text: string): boolean {
  // Text shorter than the limit cannot open more brackets than it.
  if (text.length <= maxJsonDepth) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote, past escaped characters.
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === 0x5c) i++;
        else if (s === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxJsonDepth) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/**
 * Parses JSON text as every route does: no prototype poisoning (`__proto__` and
 * `constructor.prototype` keys are refused), no nesting deeper than `maxJsonDepth`, and an empty
 * body is no body at all (`curl -X POST` with a JSON content type sends none). Text that is not
 * JSON, or nests too deeply, throws `malformed_request`.
 */
export function parseJson(text: string): unknown {
  if (text === '') return undefined;
  if (nestsTooDeep(text)) {
    throw malformed(`The JSON body nests objects and arrays deeper than ${maxJsonDepth} levels.`);
  }
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    throw malformedJsonError(error);
  }
}

/** Whether a media type is JSON (`application/json`, with or without parameters); absent counts as JSON. */
export function isJsonMediaType(type: string | undefined): boolean {
  return type === undefined || /^application\/json\s*(;|$)/i.test(type);
}

/** Whether a media type is plain text, which the router reads as a string (never a valid JSON body). */
export function isTextMediaType(type: string | undefined): boolean {
  return type !== undefined && /^text\/plain\s*(;|$)/i.test(type);
}
