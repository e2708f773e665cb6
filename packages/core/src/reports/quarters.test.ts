import { describe, expect, it } from 'vitest';
import { lastFullQuarter } from './quarters.js';

const utc = (iso: string) => Date.parse(iso);

describe('lastFullQuarter', () => {
  it.each([
    ['the first day of a quarter, after midnight', '2026-04-01T06:00:00Z', '2026-01-01', '2026-04-01'],
    ['the very start of a quarter', '2026-07-01T00:00:00Z', '2026-04-01', '2026-07-01'],
    ['the last instant of a quarter', '2026-09-30T23:59:59.999Z', '2026-04-01', '2026-07-01'],
    ['the middle of a quarter', '2026-11-15T12:00:00Z', '2026-07-01', '2026-10-01'],
    ['January: the quarter is in the year before', '2027-01-01T06:00:00Z', '2026-10-01', '2027-01-01'],
    ['March: the quarter is in the year before', '2027-03-31T00:00:00Z', '2026-10-01', '2027-01-01'],
  ])('%s', (_name, at, from, to) => {
    expect(lastFullQuarter(utc(at))).toEqual({ from: utc(`${from}T00:00:00Z`), to: utc(`${to}T00:00:00Z`) });
  });
});
