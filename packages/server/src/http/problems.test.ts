import { DomainError, ErrorCodes, ErrorKinds } from '@keymaster/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  domainProblem,
  HttpProblems,
  httpProblem,
  type ProblemInput,
  problemDocument,
  statusByKind,
} from './problems.js';

const titleOf = (problem: ProblemInput) => problemDocument({ ...problem, requestId: 'req_1' }).title;

describe('the tables of problem statuses', () => {
  it('answer every domain error code, whatever its kind, with its kind’s status and that status’s title', () => {
    for (const code of Object.values(ErrorCodes)) {
      for (const kind of ErrorKinds) {
        const problem = domainProblem(new DomainError({ kind, code, message: 'm' }));
        expect(problem.status).toBe(statusByKind[kind]);
        expect(problem.code).toBe(code);
        expect(titleOf(problem), `${kind}: ${problem.status}`).not.toBe('Error');
      }
    }
  });

  it('give every code of the HTTP layer a status with a title, but the client error that keeps its own', () => {
    for (const [code, status] of Object.entries(HttpProblems)) {
      if (code === 'bad_request') {
        expect(status).toBeNull();
        continue;
      }
      const problem = httpProblem(code as Exclude<keyof typeof HttpProblems, 'bad_request'>, 'd');
      expect(problem).toEqual({ status, code, detail: 'd' });
      expect(titleOf(problem), `${code}: ${status}`).not.toBe('Error');
    }
  });

  it('list no domain error code among the HTTP layer’s, so no code has two statuses', () => {
    const domain = new Set<string>(Object.values(ErrorCodes));
    expect(Object.keys(HttpProblems).filter((code) => domain.has(code))).toEqual([]);
  });

  it('hold a problem written out by hand to them (checked by the compiler: npm run typecheck)', () => {
    expectTypeOf<{ status: 413; code: 'payload_too_large'; detail: string }>().toExtend<ProblemInput>();
    expectTypeOf<{ status: 404; code: 'not_found'; detail: string }>().toExtend<ProblemInput>();
    // A code of neither table; an HTTP code with another status; a domain code with no kind's status.
    expectTypeOf<{ status: 400; code: 'made_up'; detail: string }>().not.toExtend<ProblemInput>();
    expectTypeOf<{ status: 400; code: 'payload_too_large'; detail: string }>().not.toExtend<ProblemInput>();
    expectTypeOf<{ status: 418; code: 'conflict'; detail: string }>().not.toExtend<ProblemInput>();
  });
});
