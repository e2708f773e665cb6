import { invalid } from '@keymaster/core';

/** Cursors are opaque to clients: the sort key of the last item, base64url-encoded. */
export function encodeCursor(sortKey: string): string {
  return Buffer.from(sortKey, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const decoded = Buffer.from(cursor, 'base64url').toString('utf8');
  // Sort keys never hold control characters; a NUL would also be a 500 on PostgreSQL.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (decoded.length === 0 || encodeCursor(decoded) !== cursor || /[\u0000-\u001f]/.test(decoded)) {
    throw invalid([{ path: '/querystring/cursor', message: 'is not a cursor this API returned' }]);
  }
  return decoded;
}

/**
 * Turns `limit + 1` rows fetched in sort order into a page: the extra row only tells whether
 * another page follows.
 */
export function toPage<Row, Item>(input: {
  rows: Row[];
  limit: number;
  sortKey: (row: Row) => string;
  convert: (row: Row) => Item;
}): { data: Item[]; has_more: boolean; next_cursor: string | null } {
  const hasMore = input.rows.length > input.limit;
  const rows = hasMore ? input.rows.slice(0, input.limit) : input.rows;
  const last = rows[rows.length - 1];
  return {
    data: rows.map(input.convert),
    has_more: hasMore,
    next_cursor: hasMore && last !== undefined ? encodeCursor(input.sortKey(last)) : null,
  };
}
