import { type InfiniteData, type UseInfiniteQueryResult, useInfiniteQuery } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import type { Page, Query } from '../api/client';
import { useApi } from './session';

/** Rows per request: the API allows up to 100. */
const pageSize = 50;

/**
 * A list route read a page at a time with its cursor, the next page on request. `query` (the
 * filters) is part of the key, so changing a filter starts again from the first page.
 */
export function useCursorList<T>(input: {
  key: readonly unknown[];
  path: string;
  query?: Query;
  enabled?: boolean;
}): UseInfiniteQueryResult<InfiniteData<Page<T>>> & { rows: T[] } {
  const api = useApi();
  const list = useInfiniteQuery({
    queryKey: [...input.key, input.query ?? {}],
    queryFn: ({ pageParam }) => api.get<Page<T>>(input.path, { limit: pageSize, ...input.query, cursor: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.has_more && last.next_cursor ? last.next_cursor : undefined),
    enabled: input.enabled ?? true,
  });
  return Object.assign(list, { rows: list.data?.pages.flatMap((page) => page.data) ?? [] });
}

/** The button under a list that reads its next page, while there is one ("Show more" unless `label` says). */
export function ShowMore(props: {
  list: Pick<UseInfiniteQueryResult, 'hasNextPage' | 'isFetchingNextPage' | 'fetchNextPage'>;
  label?: string;
}): ReactElement | null {
  const { list } = props;
  if (!list.hasNextPage) return null;
  return (
    <p>
      <button type="button" disabled={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
        {list.isFetchingNextPage ? 'Loading…' : (props.label ?? 'Show more')}
      </button>
    </p>
  );
}
