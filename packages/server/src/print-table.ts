/** Prints columns padded to their widest cell, numbers aligned right: the command line's tables. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((name, i) => Math.max(name.length, ...rows.map((row) => row[i]!.length)));
  const numeric = header.map((_, i) => rows.every((row) => /^-?[\d.]+$|^-$|^unlimited$/.test(row[i]!)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
