import type { Problem } from '@keymaster/contract';
import { expect } from 'vitest';
import type { TestResponse } from './server.js';

/**
 * Asserts an RFC 9457 problem: the status, the media type, every member of the document, the
 * request id matching the `x-request-id` header and, with `path`, a field error at that pointer.
 */
export function expectProblem(
  response: TestResponse,
  expected: { status: number; code: string; path?: string; detail?: RegExp },
): Problem {
  expect(response.statusCode, response.body).toBe(expected.status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = response.json<Problem>();
  expect(problem).toEqual({
    type: `https://keymaster.dev/problems/${expected.code}`,
    title: expect.any(String),
    status: expected.status,
    detail: expect.any(String),
    code: expected.code,
    request_id: response.headers['x-request-id'],
    ...(problem.errors !== undefined ? { errors: problem.errors } : {}),
  });
  expect(problem.detail.length).toBeGreaterThan(0);
  if (expected.detail !== undefined) expect(problem.detail).toMatch(expected.detail);
  if (expected.path !== undefined) {
    expect(
      problem.errors?.map((e) => e.path),
      response.body,
    ).toContain(expected.path);
  }
  return problem;
}
