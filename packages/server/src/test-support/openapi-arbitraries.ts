import fc from 'fast-check';

/**
 * fast-check arbitraries built from the JSON Schemas of an OpenAPI document: requests that the
 * schemas accept, and the same requests broken in the ways clients (and attackers) break them.
 * Only the part of JSON Schema that Keymaster's document uses is understood (type, properties,
 * required, additionalProperties, enum, const, anyOf/oneOf, pattern, format, lengths, bounds,
 * items); anything else generates free-form JSON, which is fine for a fuzzer.
 */

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
}

export interface Parameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  required?: boolean;
  schema?: JsonSchema;
}

export interface Operation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: JsonSchema }> };
  security?: Record<string, unknown>[];
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}

/**
 * What the generated strings draw on besides random text: the ids and keys of what the test
 * seeded (so that requests reach existing customers, plans and features, not only 404s), and for
 * a path parameter the ids that fit it.
 */
export interface Vocabulary {
  strings: readonly string[];
  /** Known values for a parameter (path or query) by name. */
  parameters?: Readonly<Record<string, readonly string[]>>;
}

/** Strings that have broken parsers, databases, templates and terminals before. */
export const nastyStrings: readonly string[] = [
  '',
  ' ',
  '\t',
  'a\u0000b',
  '\u0000',
  '\ud800',
  'x\udfffy',
  '\ufeffbom',
  '\u202eevil',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🔑',
  '../../etc/passwd',
  '..',
  '%00',
  '%2F',
  "' or 1=1 --",
  '"; drop table customers; --',
  '$'.concat('{7*7}'), // a template injection (the linter takes the literal for a mistake)
  '{{7*7}}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'null',
  'undefined',
  'NaN',
  '1e309',
  '-0',
  '9007199254740993',
  ' leading',
  'trailing ',
  'UPPER',
  'a'.repeat(256),
  'é'.repeat(65),
];

/** Values of every JSON type, to put where the schema wants another. */
const wrongTypes: readonly unknown[] = [null, true, false, 0, -1, 1.5, '', 'x', '1', 'true', [], ['x'], {}, { x: 1 }];

/** Numbers at and past the edges of what JSON, JavaScript and the databases hold. */
const edgeNumbers: readonly number[] = [
  0,
  -0,
  -1,
  0.5,
  2 ** 31,
  2 ** 31 - 1,
  2 ** 32,
  2 ** 53,
  2 ** 53 - 1,
  -(2 ** 53),
  2 ** 63,
  1e308,
  -1e308,
  Number.MIN_VALUE,
];

/** Keys that pollute prototypes or shadow methods when a server copies objects carelessly. */
const pollutingKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'x', ''];

/** The first type a schema names (`["string", "null"]` is a string), or undefined. */
function typeOf(schema: JsonSchema): string | undefined {
  return Array.isArray(schema.type) ? schema.type[0] : schema.type;
}

function lengthFits(schema: JsonSchema, value: string): boolean {
  return value.length >= (schema.minLength ?? 0) && value.length <= (schema.maxLength ?? Number.POSITIVE_INFINITY);
}

/** A regular expression for `pattern` (JSON Schema's are ECMAScript's), or undefined when it is not one. */
function regexOf(pattern: string | undefined): RegExp | undefined {
  if (pattern === undefined) return undefined;
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return undefined;
  }
}

function stringArbitrary(schema: JsonSchema, vocabulary: Vocabulary): fc.Arbitrary<string> {
  const regex = regexOf(schema.pattern);
  const fits = (value: string) => lengthFits(schema, value) && (regex === undefined || regex.test(value));
  let random: fc.Arbitrary<string>;
  if (schema.format === 'date-time') {
    random = fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
      .map((d) => d.toISOString());
  } else if (schema.format === 'email') {
    random = fc.emailAddress();
  } else if (regex !== undefined) {
    random = fc.stringMatching(regex);
  } else {
    const min = schema.minLength ?? 0;
    random = fc.string({ minLength: min, maxLength: Math.max(min, Math.min(schema.maxLength ?? 24, 24)) });
  }
  random = random.filter(fits);
  const known = vocabulary.strings.filter(fits);
  return known.length > 0 ? fc.oneof({ arbitrary: fc.constantFrom(...known), weight: 2 }, random) : random;
}

function numberArbitrary(schema: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -1_000_000);
  const max = schema.maximum ?? (schema.exclusiveMaximum !== undefined ? schema.exclusiveMaximum - 1 : 1_000_000);
  // Mostly small values (limits and quantities are small), sometimes the very edges.
  const small = { min: Math.max(min, -1000), max: Math.min(max, 1000) };
  const within =
    small.min <= small.max
      ? integer
        ? fc.integer({ min: Math.ceil(small.min), max: Math.floor(small.max) })
        : fc.double({ ...small, noNaN: true, noDefaultInfinity: true })
      : fc.constant(min);
  const edges = [min, max].map((n) => (integer ? Math.round(n) : n)).filter((n) => n >= min && n <= max);
  return fc.oneof({ arbitrary: within, weight: 4 }, fc.constantFrom(...edges));
}

/** Free-form JSON for a schema that says nothing, leaning on the names Keymaster's bodies use. */
function anything(vocabulary: Vocabulary): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    fc.constantFrom(...vocabulary.strings),
    fc.string({ maxLength: 12 }),
    fc.integer({ min: -10, max: 1000 }),
    fc.boolean(),
    fc.constant(null),
  );
  const keys = ['id', 'customer', 'feature', 'type', 'plan', 'key', 'quantity', 'value', 'timestamp', 'properties'];
  const hinted = fc.dictionary(fc.constantFrom(...keys), leaf, { maxKeys: 6 });
  return fc.oneof(hinted, leaf, fc.array(leaf, { maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }));
}

/** Values `schema` accepts (give or take what the document cannot say, such as a known id). */
export function validValue(schema: JsonSchema | undefined, vocabulary: Vocabulary, depth = 0): fc.Arbitrary<unknown> {
  if (schema === undefined || depth > 8) return anything(vocabulary);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined && schema.enum.length > 0) return fc.constantFrom(...schema.enum);
  const choices = schema.anyOf ?? schema.oneOf;
  if (choices !== undefined && choices.length > 0) {
    return fc.oneof(...choices.map((choice) => validValue(choice, vocabulary, depth + 1)));
  }
  if (Array.isArray(schema.type) && schema.type.length > 1) {
    return fc.oneof(...schema.type.map((type) => validValue({ ...schema, type }, vocabulary, depth + 1)));
  }
  switch (typeOf(schema)) {
    case 'string':
      return stringArbitrary(schema, vocabulary);
    case 'integer':
      return numberArbitrary(schema, true);
    case 'number':
      return numberArbitrary(schema, false);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const items = validValue(schema.items, vocabulary, depth + 1);
      const constraints = { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 4, 4) };
      constraints.maxLength = Math.max(constraints.maxLength, constraints.minLength);
      return schema.uniqueItems
        ? fc.uniqueArray(items, { ...constraints, selector: (v) => JSON.stringify(v) })
        : fc.array(items, constraints);
    }
    case 'object':
      return objectArbitrary(schema, vocabulary, depth);
    default:
      return anything(vocabulary);
  }
}

function objectArbitrary(schema: JsonSchema, vocabulary: Vocabulary, depth: number): fc.Arbitrary<unknown> {
  const properties = schema.properties ?? {};
  const names = Object.keys(properties);
  const free = schema.additionalProperties;
  if (names.length === 0 && free === false) return fc.constant({});
  if (names.length === 0) {
    // A map (`traits`, `context`, `metadata`): free-form values under short keys.
    const values =
      typeof free === 'object' && Object.keys(free).length > 0
        ? validValue(free, vocabulary, depth + 1)
        : anything(vocabulary);
    const maxKeys = Math.min(schema.maxProperties ?? 4, 4);
    return fc.dictionary(
      fc.oneof(fc.constantFrom(...vocabulary.strings), fc.string({ minLength: 1, maxLength: 8 })),
      values,
      {
        minKeys: Math.min(schema.minProperties ?? 0, maxKeys),
        maxKeys,
      },
    );
  }
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const name of names) model[name] = validValue(properties[name], vocabulary, depth + 1);
  return fc.record(model, { requiredKeys: (schema.required ?? []).filter((name) => name in model) });
}

/** One way to break a valid value; `at` and `pick` choose where and with what (modulo the choices). */
export interface Mutation {
  kind: 'wrong-type' | 'remove' | 'extra' | 'boundary' | 'huge' | 'deep' | 'nasty';
  at: number;
  pick: number;
}

export const mutationArbitrary: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom<Mutation['kind']>('wrong-type', 'remove', 'extra', 'boundary', 'huge', 'deep', 'nasty'),
  at: fc.nat(),
  pick: fc.nat(),
});

type Path = (string | number)[];

/** Every place of `value` with the schema that describes it, the root first. */
function slotsOf(
  schema: JsonSchema | undefined,
  value: unknown,
  path: Path = [],
): { path: Path; schema: JsonSchema }[] {
  const here = { path, schema: schema ?? {} };
  if (Array.isArray(value)) {
    return [here, ...value.flatMap((item, i) => slotsOf(schema?.items, item, [...path, i]))];
  }
  if (value !== null && typeof value === 'object') {
    return [
      here,
      ...Object.entries(value).flatMap(([key, item]) => {
        const additional = typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined;
        return slotsOf(schema?.properties?.[key] ?? additional, item, [...path, key]);
      }),
    ];
  }
  return [here];
}

/**
 * Marks put in a value where the serializer must write text JSON.stringify cannot produce:
 * nesting too deep to build as objects, bytes that are not UTF-8.
 */
export const deepMark = (depth: number) => `\u0001deep:${depth}\u0001`;
export const bytesMark = '\u0001bytes\u0001';

function replaceAt(root: unknown, path: Path, replacement: (old: unknown) => unknown): unknown {
  if (path.length === 0) return replacement(root);
  const [head, ...rest] = path;
  if (Array.isArray(root)) {
    const copy = [...root];
    copy[head as number] = replaceAt(copy[head as number], rest, replacement);
    return copy;
  }
  const copy = { ...(root as Record<string, unknown>) };
  const next = replaceAt(copy[head as string], rest, replacement);
  if (next === removed) delete copy[head as string];
  else defineOwn(copy, head as string, next);
  return copy;
}

const removed = Symbol('removed');

/** Sets an own property, even `__proto__` (which assignment would take for the prototype). */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `value` broken as `mutation` says, at one of its places. */
export function mutate(schema: JsonSchema | undefined, value: unknown, mutation: Mutation): unknown {
  const slots = slotsOf(schema, value);
  const slot = slots[mutation.at % slots.length]!;
  const choose = <T>(options: readonly T[]): T => options[mutation.pick % options.length]!;
  return replaceAt(value, slot.path, (old) => {
    switch (mutation.kind) {
      case 'wrong-type':
        return choose(wrongTypes);
      case 'remove':
        return slot.path.length === 0 ? choose(wrongTypes) : removed;
      case 'extra': {
        const target = old !== null && typeof old === 'object' && !Array.isArray(old) ? { ...old } : {};
        defineOwn(target, choose(pollutingKeys), { admin: true, polluted: 'yes' });
        return target;
      }
      case 'boundary': {
        if (typeof old === 'number' || slot.schema.type === 'integer' || slot.schema.type === 'number') {
          const bounds = [slot.schema.minimum, slot.schema.maximum, slot.schema.exclusiveMinimum]
            .filter((n): n is number => n !== undefined)
            .flatMap((n) => [n - 1, n, n + 1, n + 0.5]);
          return choose([...bounds, ...edgeNumbers]);
        }
        if (typeof old === 'string') {
          const max = slot.schema.maxLength;
          const min = slot.schema.minLength;
          return choose([
            'a'.repeat((max ?? 255) + 1),
            'a'.repeat(max ?? 64),
            'a'.repeat(Math.max(0, (min ?? 1) - 1)),
            `${old}${'é'.repeat(max ?? 64)}`,
          ]);
        }
        if (Array.isArray(old)) return Array.from({ length: (slot.schema.maxItems ?? 100) + 1 }, () => old[0] ?? 'x');
        return choose(edgeNumbers);
      }
      case 'huge':
        return choose(['x'.repeat(70_000), 'x'.repeat(1_100_000), Array.from({ length: 20_000 }, (_, i) => i)]);
      case 'deep':
        return deepMark(choose([64, 1_001, 20_000]));
      case 'nasty':
        return mutation.pick % 9 === 0 ? bytesMark : choose(nastyStrings);
    }
  });
}

/** How a body goes on the wire: as JSON, or as JSON broken below the level of values. */
export type Encoding = 'json' | 'duplicate-key' | 'proto-key' | 'truncated' | 'bom' | 'trailing-garbage';

/**
 * A value's bytes: JSON with the marks replaced (see `deepMark`, `bytesMark`), then spoiled as
 * `encoding` says (a key repeated with null or a `__proto__` object, cut short, a byte-order
 * mark, junk after it).
 */
export function encode(value: unknown, encoding: Encoding): Buffer {
  let text = JSON.stringify(value) ?? 'null';
  text = text.replace(/"\\u0001deep:(\d+)\\u0001"/g, (_, depth: string) => {
    const n = Number(depth);
    return n % 2 === 0 ? `${'['.repeat(n)}${']'.repeat(n)}` : `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
  });
  if ((encoding === 'duplicate-key' || encoding === 'proto-key') && text.startsWith('{') && text.length > 2) {
    // The first key again at the end (JSON.parse keeps the last), with null or a polluting object.
    const first = /^\{("(?:[^"\\]|\\.)*"):/.exec(text)?.[1];
    const again = encoding === 'duplicate-key' ? 'null' : '{"__proto__":{"admin":true}}';
    if (first !== undefined) text = `${text.slice(0, -1)},${first}:${again}}`;
  }
  if (encoding === 'truncated') text = text.slice(0, Math.max(1, Math.floor(text.length / 2)));
  if (encoding === 'bom') text = `\ufeff${text}`;
  if (encoding === 'trailing-garbage') text = `${text} x`;
  const parts = text.split(/"?\\u0001bytes\\u0001"?/);
  if (parts.length === 1) return Buffer.from(text, 'utf8');
  // Invalid UTF-8 inside a string: a lone continuation byte, an overlong NUL and a byte never valid.
  const bad = Buffer.from([0x22, 0x80, 0xc0, 0x80, 0xff, 0x22]);
  return Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [Buffer.from(part)] : [bad, Buffer.from(part)])));
}

export const encodingArbitrary: fc.Arbitrary<Encoding> = fc.oneof(
  { arbitrary: fc.constant<Encoding>('json'), weight: 12 },
  fc.constantFrom<Encoding>('duplicate-key', 'proto-key', 'truncated', 'bom', 'trailing-garbage'),
);

/** Content types a body goes with: mostly the one the operation declares, sometimes not. */
export function contentTypeArbitrary(declared: readonly string[]): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...declared), weight: 12 },
    fc.constantFrom(
      undefined,
      'application/json; charset=utf-8',
      'APPLICATION/JSON',
      'application/json; charset=latin1',
      'application/json; charset=utf-16',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/merge-patch+json',
      'application/cloudevents+json',
      '%%%',
      '',
    ),
  );
}
