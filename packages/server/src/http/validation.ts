import Ajv, { type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

const shared: Options = { allErrors: true, removeAdditional: false, useDefaults: false, strict: false };

/**
 * Request validation. Bodies are validated exactly as sent: no type coercion (a "5" is not a
 * number) and no silent removal of unknown fields (they are errors). Query strings and path
 * parameters arrive as text, so there types are coerced.
 */
export function validatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strictAjv = addFormats.default(new Ajv.default({ ...shared, coerceTypes: false }));
  const coercingAjv = addFormats.default(new Ajv.default({ ...shared, coerceTypes: 'array', useDefaults: true }));
  return ({ schema, httpPart }) => {
    if (httpPart !== 'body') return coercingAjv.compile(schema as object);
    const validate = strictAjv.compile(schema as object);
    // A POST without a body (`curl -X POST .../publish`) is an empty object, when that is valid.
    return (data: unknown) => {
      if (data !== undefined) return validate(data);
      const empty = {};
      return validate(empty)
        ? { value: empty }
        : { error: Object.assign(new Error('body is required'), { validation: validate.errors }) };
    };
  };
}
