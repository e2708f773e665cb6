import type { FeatureCreate } from '@keymaster/contract';
import { type JsonValue, validateFeature, validateFeatureKey, validateTargeting } from '@keymaster/core';
import { type FeatureRecord, fromApiFeature } from '../features/convert.js';

/** One flag of a flagd flag-definition file. */
export interface FlagdFlag {
  state: 'ENABLED' | 'DISABLED';
  variants: Record<string, JsonValue>;
  defaultVariant?: string | null;
  targeting?: JsonValue;
  metadata?: Record<string, JsonValue>;
}

/** A flagd flag-definition file: `{ flags, $evaluators? }`. */
export interface FlagdFile {
  flags: Record<string, FlagdFlag>;
  $evaluators?: Record<string, JsonValue>;
}

/** A flag (or feature) that has no counterpart on the other side, and why. */
export interface Unmapped {
  key: string;
  reason: string;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parses a flagd file's JSON and checks the shape the import relies on. */
export function parseFlagdFile(input: { text: string; name: string }): FlagdFile {
  let data: unknown;
  try {
    data = JSON.parse(input.text);
  } catch (error) {
    throw new Error(`${input.name} is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(data) || !isObject(data.flags)) throw new Error(`${input.name} has no "flags" object`);
  if (data.$evaluators !== undefined && !isObject(data.$evaluators))
    throw new Error(`${input.name}: "$evaluators" must be an object`);
  return data as unknown as FlagdFile;
}

/** Replaces every `{"$ref": name}` with the shared evaluator it names (flagd's `$evaluators`). */
function inlineRefs(rule: JsonValue, evaluators: Record<string, JsonValue>): JsonValue {
  if (Array.isArray(rule)) return rule.map((item) => inlineRefs(item, evaluators));
  if (!isObject(rule)) return rule;
  const keys = Object.keys(rule);
  if (keys.length === 1 && keys[0] === '$ref') {
    const name = rule.$ref as string;
    if (!(name in evaluators)) throw new Error(`$ref to "${name}", which $evaluators does not define`);
    return inlineRefs(evaluators[name]!, evaluators);
  }
  return Object.fromEntries(Object.entries(rule).map(([k, v]) => [k, inlineRefs(v as JsonValue, evaluators)]));
}

/** Which Keymaster feature type a flag's variants call for, or why none does. */
function typeOf(variants: Record<string, JsonValue>): 'boolean' | 'config' | Unmapped['reason'] {
  const values = Object.values(variants);
  if (values.length === 0) return 'it has no variants';
  const kinds = new Set(values.map((v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)));
  if (kinds.has('null')) return 'a variant is null';
  if (kinds.size > 1) return `its variants mix types (${[...kinds].sort().join(', ')})`;
  return kinds.has('boolean') ? 'boolean' : 'config';
}

/**
 * flagd flags as Keymaster features. Boolean flags become boolean features; string, number and
 * object flags config features whose `options` are the variant values. Variants are kept by name,
 * so rules answer the same names; `$ref`s are inlined; `state: DISABLED` is the kill switch;
 * `defaultVariant` and flag `metadata` are the feature's own. A flag that cannot map (a key
 * Keymaster does not accept, mixed or null variants, an unknown `$ref`, a rule that does not
 * compile) is reported, not imported.
 */
export function flagsToFeatures(file: FlagdFile): { features: FeatureCreate[]; unmapped: Unmapped[] } {
  const features: FeatureCreate[] = [];
  const unmapped: Unmapped[] = [];
  const evaluators = file.$evaluators ?? {};
  for (const [key, flag] of Object.entries(file.flags)) {
    const skip = (reason: string) => unmapped.push({ key, reason });
    if (validateFeatureKey(key, '/key').length > 0) {
      skip('its key is not a Keymaster feature key (letters, digits, "_", "." or "-", up to 64)');
      continue;
    }
    if (!isObject(flag) || !isObject(flag.variants)) {
      skip('it has no variants object');
      continue;
    }
    const type = typeOf(flag.variants);
    if (type !== 'boolean' && type !== 'config') {
      skip(type);
      continue;
    }
    if (typeof flag.defaultVariant === 'string' && !(flag.defaultVariant in flag.variants)) {
      skip(`its defaultVariant "${flag.defaultVariant}" is not one of its variants`);
      continue;
    }
    let rule: JsonValue | undefined;
    try {
      rule =
        flag.targeting === undefined || flag.targeting === null ? undefined : inlineRefs(flag.targeting, evaluators);
    } catch (error) {
      skip((error as Error).message);
      continue;
    }
    if (isObject(rule) && Object.keys(rule).length === 0) rule = undefined;
    const body: FeatureCreate = { key, name: key, type, variants: flag.variants };
    if (type === 'config') body.options = unique(Object.values(flag.variants));
    if (flag.state === 'DISABLED') body.status = 'disabled';
    if (rule !== undefined) body.targeting = rule;
    // flagd treats "" like null: no default variant (the caller's default answers).
    if (typeof flag.defaultVariant === 'string' && flag.defaultVariant !== '')
      body.default_variant = flag.defaultVariant;
    if (isObject(flag.metadata) && Object.keys(flag.metadata).length > 0) {
      body.metadata = flag.metadata as NonNullable<FeatureCreate['metadata']>;
    }
    const record = fromApiFeature({ body, id: '', createdAt: 0, updatedAt: 0 });
    const problems = [
      ...validateFeature(record),
      ...(record.targeting === null ? [] : validateTargeting(record.targeting)),
    ];
    if (problems.length > 0) {
      skip(problems.map((p) => `${p.path} ${p.message}`).join('; '));
      continue;
    }
    features.push(body);
  }
  return { features, unmapped };
}

function unique(values: JsonValue[]): JsonValue[] {
  const seen = new Set<string>();
  return values.filter((v) => {
    const id = JSON.stringify(v);
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * Keymaster features as flagd flags: the reverse of `flagsToFeatures`. Boolean features declare
 * `on`/`off` unless they carry variants of their own; config features their variants, or one per
 * option named after its string form. Metered and gauge features have no flagd counterpart (their
 * answer depends on usage) and are reported.
 */
export function featuresToFlags(features: FeatureRecord[]): { file: FlagdFile; unmapped: Unmapped[] } {
  const flags: Record<string, FlagdFlag> = {};
  const unmapped: Unmapped[] = [];
  for (const feature of features) {
    if (feature.type === 'metered' || feature.type === 'gauge') {
      unmapped.push({ key: feature.key, reason: `${feature.type} features depend on usage; flagd has no counterpart` });
      continue;
    }
    let variants: Record<string, JsonValue>;
    if (feature.variants) variants = feature.variants;
    else if (feature.type === 'config' && feature.options)
      variants = Object.fromEntries(feature.options.map((o) => [typeof o === 'string' ? o : JSON.stringify(o), o]));
    else if (feature.type === 'boolean') variants = { on: true, off: false };
    else {
      unmapped.push({ key: feature.key, reason: 'a config feature without options or variants' });
      continue;
    }
    const flag: FlagdFlag = { state: feature.status === 'disabled' ? 'DISABLED' : 'ENABLED', variants };
    if (feature.defaultVariant !== null) flag.defaultVariant = feature.defaultVariant;
    if (feature.targeting !== null) flag.targeting = feature.targeting;
    if (feature.metadata !== null) flag.metadata = feature.metadata;
    flags[feature.key] = flag;
  }
  return { file: { flags }, unmapped };
}
