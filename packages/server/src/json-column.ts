/** JSON columns are text on both dialects; these are the only two places that cross that line. */
export function toJsonColumn(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

export function fromJsonColumn<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

export function toIso(epochMs: number): string;
export function toIso(epochMs: number | null): string | null;
export function toIso(epochMs: number | null): string | null {
  return epochMs === null ? null : new Date(epochMs).toISOString();
}

export function fromIso(iso: string): number;
export function fromIso(iso: string | undefined): number | null;
export function fromIso(iso: string | undefined): number | null {
  return iso === undefined ? null : Date.parse(iso);
}
