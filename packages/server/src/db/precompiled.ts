import { type Compilable, CompiledQuery } from 'kysely';
import type { Db } from './database.js';
import { keepPrepared } from './prepared.js';

/**
 * A hot statement compiled once per database (dialect) instead of built and compiled on every
 * call: building Kysely's query tree and compiling it cost more CPU than SQLite takes to run a
 * small upsert. `build` makes the query with the call's values; the first call on a database
 * compiles it and keeps the SQL text, later calls only bind `parameters` — which must be the
 * values in the order the compiled query takes them. The first compile checks that they are,
 * so a query whose shape and parameter list drift apart fails at once (in tests), not silently.
 * Only for queries whose SQL text does not depend on the values (no lists of varying length).
 * On PostgreSQL each connection keeps the statement prepared (see prepared.ts).
 */
export function precompiled<Params extends readonly unknown[]>(
  build: (db: Db, ...params: Params) => Compilable,
): (db: Db, ...params: Params) => CompiledQuery {
  // Keyed by the executor's adapter: a database and its transactions share one.
  const texts = new WeakMap<object, string>();
  return (db, ...params) => {
    const adapter = db.getExecutor().adapter;
    const text = texts.get(adapter);
    if (text !== undefined) return CompiledQuery.raw(text, params as unknown as unknown[]);
    const compiled = build(db, ...params).compile();
    const expected = compiled.parameters;
    if (expected.length !== params.length || expected.some((value, i) => value !== params[i])) {
      throw new Error(`precompiled query: parameters out of order for ${compiled.sql}`);
    }
    texts.set(adapter, compiled.sql);
    keepPrepared(compiled.sql);
    return compiled;
  };
}

/**
 * Like `precompiled`, for statements whose SQL text depends on the input's shape only (a
 * multi-row insert: its row count and kind): compiled once per database and `shape`, then only
 * bound with `parameters(input)`, which must list the values in the order the compiled query
 * takes them (checked at the first compile of each shape, as `precompiled` does).
 */
export function precompiledByShape<Input>(
  build: (db: Db, input: Input) => Compilable,
  shape: (input: Input) => string,
  parameters: (input: Input) => unknown[],
): (db: Db, input: Input) => CompiledQuery {
  const texts = new WeakMap<object, Map<string, string>>();
  return (db, input) => {
    const adapter = db.getExecutor().adapter;
    let byShape = texts.get(adapter);
    if (byShape === undefined) {
      byShape = new Map();
      texts.set(adapter, byShape);
    }
    const key = shape(input);
    const params = parameters(input);
    const text = byShape.get(key);
    if (text !== undefined) return CompiledQuery.raw(text, params);
    const compiled = build(db, input).compile();
    const expected = compiled.parameters;
    if (expected.length !== params.length || expected.some((value, i) => value !== params[i])) {
      throw new Error(`precompiled query: parameters out of order for ${compiled.sql.slice(0, 200)}`);
    }
    byShape.set(key, compiled.sql);
    return compiled;
  };
}

/**
 * A multi-row insert's parameters for `precompiledByShape`: each row's `columns` in order, row
 * after row, then `trailing` (values the statement takes after its rows).
 */
export function rowParameters<Row>(rows: readonly Row[], columns: readonly (keyof Row)[], ...trailing: unknown[]) {
  const params: unknown[] = new Array(rows.length * columns.length + trailing.length);
  let i = 0;
  for (const row of rows) for (const column of columns) params[i++] = row[column];
  for (const value of trailing) params[i++] = value;
  return params;
}
