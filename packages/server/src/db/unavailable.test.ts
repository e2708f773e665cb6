import { DomainError } from '@keymaster/core';
import { describe, expect, it } from 'vitest';
import { databaseUnavailable } from './unavailable.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('databaseUnavailable', () => {
  it.each([
    [
      'an administrator terminated the backend',
      withCode('terminating connection due to administrator command', '57P01'),
    ],
    ['the server is shutting down', withCode('the database system is shutting down', '57P02')],
    ['the server is starting', withCode('the database system is starting up', '57P03')],
    ['a statement ran past statement_timeout', withCode('canceling statement due to statement timeout', '57014')],
    ['a lock wait ran past lock_timeout', withCode('canceling statement due to lock timeout', '55P03')],
    ['a connection exception', withCode('connection failure', '08006')],
    ['too many connections', withCode('sorry, too many clients already', '53300')],
    ['a deadlock', withCode('deadlock detected', '40P01')],
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['a reset connection', withCode('read ECONNRESET', 'ECONNRESET')],
    ['a connection that died under the query', new Error('Connection terminated unexpectedly')],
    ['a connection that died before', new Error('Client has encountered a connection error and is not queryable')],
    ['no connection free in time', new Error('timeout exceeded when trying to connect')],
    ['every address refusing', new AggregateError([withCode('connect ECONNREFUSED ::1:5432', 'ECONNREFUSED')])],
    ['a wrapped cause', new Error('Migration failed', { cause: withCode('read ECONNRESET', 'ECONNRESET') })],
    ['SQLite busy past busy_timeout', withCode('database is locked', 'SQLITE_BUSY')],
  ])('is unavailable for %s', (_, error) => {
    expect(databaseUnavailable(error)).toMatchObject({ kind: 'unavailable', code: 'unavailable' });
    expect(databaseUnavailable(error)).toBeInstanceOf(DomainError);
  });

  it.each([
    ['a unique violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['a raised exception (a trigger)', withCode('boom', 'P0001')],
    ['a syntax error', withCode('syntax error at or near "x"', '42601')],
    ['a SQLite constraint', withCode('UNIQUE constraint failed', 'SQLITE_CONSTRAINT_UNIQUE')],
    ['a programming error', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a non-error', 'Connection terminated'],
  ])('is nothing for %s', (_, error) => {
    expect(databaseUnavailable(error)).toBeUndefined();
  });
});
