import { type InfiniteData, type QueryKey, type UseInfiniteQueryResult, useInfiniteQuery } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import type { Page } from '../../api/client';
import { useApi } from '../session';

/** Rows per request (the API allows up to 100). */
const pageSize = 50;

/** A catalog list read page by page with the API's cursor, the next page when asked for. */
export function usePagedList<T>(
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

/** "Show more" under a list while the API has another page. */
export function MoreRows(props: {
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
