import { useQuery } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import type { RouteObject } from 'react-router';
import type { Page } from '../../api/client';
import { ErrorAlert, Loading } from '../../ui/forms';
import { useApi } from '../session';

function ListPage(): ReactElement {
  const api = useApi();
  const list = useQuery({
    queryKey: ['reports', 'list'],
    queryFn: () => api.get<Page<{ id?: string; key?: string }>>('/v1/reports'),
  });
  return (
    <>
      <h1>Reports</h1>
      {list.isPending ? (
        <Loading />
      ) : list.isError ? (
        <ErrorAlert error={list.error} />
      ) : (
        <ul>
          {list.data.data.map((row) => (
            <li key={row.id ?? row.key}>{row.id ?? row.key}</li>
          ))}
        </ul>
      )}
    </>
  );
}

export const reportRoutes: RouteObject[] = [{ path: 'reports', element: <ListPage /> }];
