import type { UsageRevenueReport } from '@keymaster/contract';

/** A CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break. */
function cell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * The report as CSV, one customer a line, with the columns of `keymaster report usage-revenue
 * --format csv`: revenue in minor units, each feature as `feature=usage/limit` (`-`: unlimited).
 */
export function usageRevenueCsv(report: Pick<UsageRevenueReport, 'data'>): string {
  const header = ['customer', 'plan', 'revenue', 'currency', 'features (usage/limit)', 'flags'];
  const lines = [header.map(cell).join(',')];
  for (const row of report.data) {
    lines.push(
      [
        row.customer,
        row.plan,
        String(row.revenue.amount),
        row.revenue.currency,
        row.features.map((f) => `${f.feature}=${f.usage}/${f.limit ?? '-'}`).join(' '),
        row.flags.join(' '),
      ]
        .map(cell)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Saves `text` as a file through the browser's download, from memory (no second request). */
export function download(input: { text: string; filename: string; type: string }): void {
  const url = URL.createObjectURL(new Blob([input.text], { type: input.type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = input.filename;
  document.body.append(link);
  link.click();
  link.remove();
  // Released once the download has surely read it (revoking at once can cancel it).
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
