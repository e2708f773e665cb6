import { describe, expect, it } from 'vitest';
import { type JsonValue, jsonEquals } from './json.js';

describe('jsonEquals', () => {
  const cases: [JsonValue | undefined, JsonValue | undefined, boolean][] = [
    ['a', 'a', true],
    ['1', 1, false],
    [0, false, false],
    [null, null, true],
    [null, undefined, false],
    [undefined, undefined, true],
    [[1, 2], [1, 2], true],
    [[1, 2], [2, 1], false],
    [[1], { 0: 1 }, false],
    [{ a: 1, b: [true] }, { b: [true], a: 1 }, true],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [{ a: { b: null } }, { a: { b: null } }, true],
    [{ a: { b: null } }, { a: {} }, false],
  ];
  it.each(cases)('%j vs %j → %s', (a, b, equal) => {
    expect(jsonEquals(a, b)).toBe(equal);
    expect(jsonEquals(b, a)).toBe(equal);
  });
});
