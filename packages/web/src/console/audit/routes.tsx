import { useQuery } from '@tanstack/react-query';
import type { ReactElement } from 'react';
import type { RouteObject } from 'react-router';
import type { Page } from '../../api/client';
import { ErrorAlert, Loading } from '../../ui/forms';
import { useApi } from '../session';

function ListPage(): ReactElement {
  const api = useApi();
  const list = useQuery({
    queryKey: ['audit', 'list'],
    queryFn: () => api.get<Page<{ id?: string; key?: string }>>('/v1/audit-events'),
  });
  return (
    <>
      <h1>Audit log</h1>
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

export const auditRoutes: RouteObject[] = [{ path: 'audit', element: <ListPage /> }];
