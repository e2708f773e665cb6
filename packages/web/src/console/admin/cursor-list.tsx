import { type InfiniteData, type QueryKey, type UseInfiniteQueryResult, useInfiniteQuery } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import type { Page } from '../../api/client';
import { useApi } from '../session';

/** How many rows one request asks for: the API allows up to 100. */
const pageSize = 50;

/** A list route read page by page with its cursor (`next_cursor`), the next page on request. */
export function useCursorList<T>(
  queryKey: QueryKey,
  path: string,
): UseInfiniteQueryResult<InfiniteData<Page<T>>> & { rows: T[] } {
  const api = useApi();
  const query = useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam }) => api.get<Page<T>>(path, { limit: pageSize, cursor: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => (last.has_more && last.next_cursor ? last.next_cursor : undefined),
  });
  return Object.assign(query, { rows: query.data?.pages.flatMap((page) => page.data) ?? [] });
}

/** The button under a list that reads its next page, while there is one. */
export function ShowMore(props: {
  list: Pick<UseInfiniteQueryResult, 'hasNextPage' | 'isFetchingNextPage' | 'fetchNextPage'>;
}): ReactElement | null {
  const { list } = props;
  if (!list.hasNextPage) return null;
  return (
    <p>
      <button type="button" disabled={list.isFetchingNextPage} onClick={() => void list.fetchNextPage()}>
        {list.isFetchingNextPage ? 'Loading…' : 'Show more'}
      </button>
    </p>
  );
}
