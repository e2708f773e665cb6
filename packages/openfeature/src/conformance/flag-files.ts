import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FlagdFile, type FlagdFlag, parseFlagdFile } from '../../../server/src/modules/flags/flagd-file.js';

/**
 * The OpenFeature spec's `test-flags.json` targets the spec's in-memory provider: six flags carry a
 * `contextEvaluator`, a JavaScript expression, instead of flagd JsonLogic. Each is translated here
 * by hand into the flagd `targeting` rule that answers the same: an expression answering `''`
 * names no variant, which in flagd is a rule answering `null` (the default variant, reason
 * DEFAULT). The expression is compared verbatim, so a changed suite fails loudly here instead of
 * being evaluated with a stale translation.
 */
const byBallmerEmail = (variant: string) => ({
  if: [{ '==': [{ var: 'email' }, 'ballmer@macrosoft.com'] }, variant, null],
});
const translations: Record<string, { expression: string; targeting: unknown }> = {
  'boolean-targeted-zero-flag': {
    expression: "email == 'ballmer@macrosoft.com' ? 'zero' : ''",
    targeting: byBallmerEmail('zero'),
  },
  'string-targeted-zero-flag': {
    expression: "email == 'ballmer@macrosoft.com' ? 'zero' : ''",
    targeting: byBallmerEmail('zero'),
  },
  'integer-targeted-zero-flag': {
    expression: "email == 'ballmer@macrosoft.com' ? 'zero' : ''",
    targeting: byBallmerEmail('zero'),
  },
  'float-targeted-zero-flag': {
    expression: "email == 'ballmer@macrosoft.com' ? 'zero' : ''",
    targeting: byBallmerEmail('zero'),
  },
  'object-targeted-zero-flag': {
    expression: "email == 'ballmer@macrosoft.com' ? 'zero' : ''",
    targeting: byBallmerEmail('zero'),
  },
  'complex-targeted': {
    expression: "!customer && email == 'ballmer@macrosoft.com' && age > 10 ? 'internal' : ''",
    targeting: {
      if: [
        {
          and: [
            { '!': [{ var: 'customer' }] },
            { '==': [{ var: 'email' }, 'ballmer@macrosoft.com'] },
            { '>': [{ var: 'age' }, 10] },
          ],
        },
        'internal',
        null,
      ],
    },
  },
};

/** One flag of the spec's in-memory provider format. */
interface InMemoryFlag {
  variants: Record<string, FlagdFlag['variants'][string]>;
  defaultVariant?: string | null;
  disabled?: boolean;
  flagMetadata?: Record<string, string | number | boolean> | null;
  contextEvaluator?: string;
}

/** `openfeature-spec/test-flags.json` as a flagd file, every `contextEvaluator` translated (see above). */
export function specFlags(dir: string): FlagdFile {
  const flags = JSON.parse(readFileSync(join(dir, 'test-flags.json'), 'utf8')) as Record<string, InMemoryFlag>;
  const out: FlagdFile = { flags: {} };
  for (const [key, flag] of Object.entries(flags)) {
    const converted: FlagdFlag = { state: flag.disabled ? 'DISABLED' : 'ENABLED', variants: flag.variants };
    if (flag.defaultVariant !== undefined) converted.defaultVariant = flag.defaultVariant;
    if (flag.flagMetadata) converted.metadata = flag.flagMetadata;
    if (flag.contextEvaluator !== undefined) {
      const translation = translations[key];
      if (!translation) throw new Error(`test-flags.json: no translation of the contextEvaluator of ${key}`);
      if (translation.expression !== flag.contextEvaluator) {
        throw new Error(
          `test-flags.json: the contextEvaluator of ${key} changed to ${JSON.stringify(flag.contextEvaluator)}; ` +
            `update its translation (written for ${JSON.stringify(translation.expression)})`,
        );
      }
      converted.targeting = translation.targeting as FlagdFlag['targeting'];
    }
    out.flags[key] = converted;
  }
  const untranslated = Object.keys(translations).filter((key) => flags[key]?.contextEvaluator === undefined);
  if (untranslated.length > 0) throw new Error(`test-flags.json no longer has contextEvaluators for ${untranslated}`);
  return out;
}

/** `flagd-testbed/flags/testkit-flags.json`, already in flagd format. */
export function testbedFlags(dir: string): FlagdFile {
  const name = join(dir, 'flags/testkit-flags.json');
  return parseFlagdFile({ text: readFileSync(name, 'utf8'), name });
}
