import { type Static, Type } from '@sinclair/typebox';

/** An RFC 9457 problem document: every error Keymaster answers has this shape. */
export const Problem = Type.Object(
  {
    type: Type.String({ description: 'A URI naming the problem type.' }),
    title: Type.String({ description: 'A short summary of the problem type.' }),
    status: Type.Integer({ description: 'The HTTP status code.' }),
    detail: Type.String({ description: 'What went wrong in this occurrence.' }),
    code: Type.String({ description: 'A stable snake_case code to branch on, e.g. `validation_failed`.' }),
    request_id: Type.String({ description: 'The request id, also in the `x-request-id` header and the logs.' }),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String({ description: 'JSON pointer to the offending field, e.g. `/entitlements/0/limit`.' }),
          message: Type.String(),
        }),
        { description: 'Every offending field, when the problem is with the input.' },
      ),
    ),
  },
  { description: 'RFC 9457 problem details.' },
);
export type Problem = Static<typeof Problem>;
