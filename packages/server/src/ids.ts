import { monotonicFactory } from 'ulid';

const ulid = monotonicFactory();

/** Prefixed, time-sortable ids: `sub_01j…`, `grt_01j…`. Sorting by id sorts by creation. */
export function newId(
  prefix:
    | 'feat'
    | 'planv'
    | 'sub'
    | 'grt'
    | 'key'
    | 'rsv'
    | 'dev'
    | 'ctok'
    | 'sevt'
    | 'whe'
    | 'whd'
    | 'wha'
    | 'alr'
    | 'ntf'
    | 'eml'
    | 'dcn'
    | 'acp'
    | 'rpt',
): string {
  return `${prefix}_${ulid().toLowerCase()}`;
}
