/**
 * The last full calendar quarter (UTC) before an instant: the range a quarterly report covers.
 * Quarters start on January, April, July and October 1 at 00:00 UTC; an instant exactly at a
 * quarter's start has the quarter before it as its last full one. Answers `[from, to)` in epoch ms.
 *
 * @example
 * lastFullQuarter(Date.parse('2026-04-01T06:00:00Z'));
 * // → { from: Date.parse('2026-01-01T00:00:00Z'), to: Date.parse('2026-04-01T00:00:00Z') }
 */
export function lastFullQuarter(at: number): { from: number; to: number } {
  const date = new Date(at);
  const year = date.getUTCFullYear();
  const quarterStartMonth = Math.floor(date.getUTCMonth() / 3) * 3;
  // Date.UTC takes a negative month as one of the year before.
  return { from: Date.UTC(year, quarterStartMonth - 3, 1), to: Date.UTC(year, quarterStartMonth, 1) };
}
