/**
 * The period a notice's email counts in: a customer gets at most one email per notice type and
 * period. The usage period the event names (`data.period_start`: alerts and limits) when it has
 * one; otherwise the subscription's current period (`data.subscription.current_period_start`:
 * lifecycle notices); otherwise the calendar month (UTC) the event happened in.
 *
 * @example
 * emailPeriodStart({ data: { period_start: '2026-06-01T00:00:00.000Z' }, at: 0 }); // → Date.parse('2026-06-01…')
 * emailPeriodStart({ data: {}, at: Date.parse('2026-06-15T12:00:00Z') }); // → Date.parse('2026-06-01T00:00:00Z')
 */
export function emailPeriodStart(input: { data: unknown; at: number }): number {
  const data = (input.data ?? {}) as { period_start?: unknown; subscription?: { current_period_start?: unknown } };
  for (const candidate of [data.period_start, data.subscription?.current_period_start]) {
    if (typeof candidate !== 'string') continue;
    const start = Date.parse(candidate);
    if (Number.isFinite(start)) return start;
  }
  const at = new Date(input.at);
  return Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1);
}
