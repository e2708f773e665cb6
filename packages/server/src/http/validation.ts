import Ajv, { type ErrorObject, type Format, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

const shared: Options = { allErrors: true, removeAdditional: false, useDefaults: false, strict: false };

/**
 * RFC 3339 as ajv-formats checks it, and also an instant JavaScript can hold: a leap second
 * (`23:59:60`) passes RFC 3339 but `Date.parse` makes it NaN, which no column can store.
 */
function dateTimeFormat(): Format {
  // ajv-formats' full-mode definition: `{ validate, compare }`.
  const rfc3339 = addFormats.default.get('date-time') as { validate: (value: string) => boolean };
  return { type: 'string', validate: (value: string) => rfc3339.validate(value) && Number.isFinite(Date.parse(value)) };
}

const maxDepth = 32;

/**
 * What no schema here says but every input must respect: no NUL characters in any string or
 * property name (PostgreSQL text cannot hold them: a 500 on one dialect, stored on the other),
 * and no nesting deeper than `maxDepth` (free-form JSON such as traits or a targeting context is
 * walked and serialised recursively; a 100,000-deep array would overflow the stack). Walked with
 * an explicit stack for the same reason.
 */
function inputErrors(data: unknown): ErrorObject[] {
  const errors: ErrorObject[] = [];
  const error = (path: string, message: string) =>
    errors.push({ instancePath: path, keyword: 'input', schemaPath: '', params: {}, message });
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: data, path: '', depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, path, depth } = next;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) error(path, 'must not contain NUL characters');
    } else if (value !== null && typeof value === 'object') {
      if (depth >= maxDepth) {
        error(path, `must not nest deeper than ${maxDepth} levels`);
        continue;
      }
      for (const [key, item] of Object.entries(value)) {
        const at = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
        if (key.includes('\u0000')) error(path, 'must not contain NUL characters in property names');
        pending.push({ value: item, path: at, depth: depth + 1 });
      }
    }
  }
  return errors;
}

/**
 * Whether `inputErrors` would find anything: the same walk without building a JSON pointer per
 * node (a 1,000-event batch has tens of thousands), so the common clean body costs little.
 */
function hasInputProblem(data: unknown): boolean {
  const values: unknown[] = [data];
  const depths: number[] = [0];
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop()!;
    if (typeof value === 'string') {
      if (value.includes('\u0000')) return true;
    } else if (value !== null && typeof value === 'object') {
      if (depth >= maxDepth) return true;
      for (const key of Object.keys(value)) {
        if (key.includes('\u0000')) return true;
        values.push((value as Record<string, unknown>)[key]);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/**
 * Whether parsed JSON text could hold a NUL or nest past `maxDepth`; when the text is at hand and
 * it cannot, the walk is skipped (it allocates per node, and checks are the hot path).
 */
function mayNeedWalk(text: string | undefined): boolean {
  if (text === undefined) return true;
  if (text.includes('\\u0000')) return true;
  let open = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 123 || c === 91) open++; // { and [
  }
  return open >= maxDepth;
}

/** A body validator for handlers outside Fastify: `text` is the JSON the body was parsed from. */
export function bodyValidator(schema: object) {
  const validate = strictBodyAjv().compile(schema);
  return (data: unknown, text?: string) => answer(validate, data === undefined || data === null ? {} : data, text);
}

let sharedStrictAjv: Ajv.default | undefined;
function strictBodyAjv(): Ajv.default {
  sharedStrictAjv ??= withFormats(new Ajv.default({ ...shared, coerceTypes: false }));
  return sharedStrictAjv;
}

function withFormats(ajv: Ajv.default): Ajv.default {
  addFormats.default(ajv);
  ajv.addFormat('date-time', dateTimeFormat());
  return ajv;
}

/**
 * Fastify reads `.errors` from the function it called, not from Ajv's, so every validator here
 * answers `{ value }` or `{ error }` rather than a bare boolean (which would let invalid input
 * through with no errors attached).
 */
function answer(validate: ValidateFunction, data: unknown, text?: string) {
  const valid = validate(data);
  const walk = mayNeedWalk(text);
  if (valid && !walk) return { value: data };
  const errors = [
    ...(valid ? [] : (validate.errors ?? [])),
    ...(walk && hasInputProblem(data) ? inputErrors(data) : []),
  ];
  if (errors.length === 0) return { value: data };
  return { error: Object.assign(new Error('The request is invalid'), { validation: errors }) };
}

/**
 * Request validation. Bodies are validated exactly as sent: no type coercion (a "5" is not a
 * number) and no silent removal of unknown fields (they are errors). Query strings and path
 * parameters arrive as text, so there types are coerced.
 */
export function validatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strictAjv = strictBodyAjv();
  const coercingAjv = withFormats(new Ajv.default({ ...shared, coerceTypes: 'array', useDefaults: true }));
  return ({ schema, httpPart }) => {
    if (httpPart !== 'body') {
      const validate = coercingAjv.compile(schema as object);
      return (data: unknown) => answer(validate, data);
    }
    const validate = strictAjv.compile(schema as object);
    // Fastify hands an absent body in as null: a POST without one (`curl -X POST .../publish`)
    // is validated as `{}`.
    return (data: unknown) => answer(validate, data === undefined || data === null ? {} : data);
  };
}
