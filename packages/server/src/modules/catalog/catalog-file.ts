import { CatalogFile } from '@keymaster/contract';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import stringify from 'safe-stable-stringify';
import YAML from 'yaml';

const validate = addFormats.default(new Ajv({ allErrors: true, strict: false })).compile<CatalogFile>(CatalogFile);

/** Parses a catalog file (YAML or JSON, YAML being a superset) and checks its shape. */
export function parseCatalogFile(input: { text: string; name: string }): CatalogFile {
  let data: unknown;
  try {
    data = YAML.parse(input.text);
  } catch (error) {
    throw new Error(`${input.name} is not valid YAML or JSON: ${(error as Error).message}`);
  }
  if (!validate(data ?? {})) {
    const problems = (validate.errors ?? []).map((e) => `  ${e.instancePath || '/'} ${e.message ?? ''}`.trimEnd());
    throw new Error(`${input.name} is not a valid catalog file:\n${problems.join('\n')}`);
  }
  return (data ?? {}) as CatalogFile;
}

/** Writes a catalog in a stable order, so exports diff cleanly in git. */
export function formatCatalogFile(input: { catalog: CatalogFile; format: 'yaml' | 'json' }): string {
  // Keys sorted for stable diffs, with `key` first for readability.
  const ordered = JSON.parse(stringify(input.catalog) ?? '{}') as CatalogFile;
  const keyFirst = <T extends { key: string }>({ key, ...rest }: T) => ({ key, ...rest });
  const catalog = { features: ordered.features?.map(keyFirst) ?? [], plans: ordered.plans?.map(keyFirst) ?? [] };
  return input.format === 'json' ? `${JSON.stringify(catalog, null, 2)}\n` : YAML.stringify(catalog);
}
