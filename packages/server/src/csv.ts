/** A CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break. */
export function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** A CSV line of cells, without its line break. */
export function csvLine(cells: readonly string[]): string {
  return cells.map(csvCell).join(',');
}
