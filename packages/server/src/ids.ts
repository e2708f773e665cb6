import { randomFillSync } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/**
 * ulid's own source of randomness asks the operating system for one byte per character (16 calls
 * an id); this one draws the same cryptographic bytes 4 KiB at a time.
 */
const pool = Buffer.alloc(4096);
let drawn = pool.length;
function randomByteShare(): number {
  if (drawn === pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  return pool[drawn++]! / 256;
}

const ulid = monotonicFactory(randomByteShare);

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
    | 'ptok'
    | 'sevt'
    | 'whe'
    | 'whd'
    | 'wha'
    | 'alr'
    | 'ntf'
    | 'eml'
    | 'dcn'
    | 'acp'
    | 'rpt'
    | 'usr',
): string {
  return `${prefix}_${ulid().toLowerCase()}`;
}
