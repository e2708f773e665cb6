import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { AstBuilder, compile, GherkinClassicTokenMatcher, Parser } from '@cucumber/gherkin';
import { IdGenerator } from '@cucumber/messages';

/** One step of a scenario, with its data table (header row included) when it has one. */
export interface Step {
  text: string;
  table: string[][] | null;
}

/** One runnable scenario: a plain scenario, or one example row of an outline (a cucumber "pickle"). */
export interface Scenario {
  /** The scenario's name plus what tells its example rows apart, unique within the file. */
  title: string;
  tags: string[];
  steps: Step[];
}

/**
 * The scenarios of a `.feature` file, with the Background steps prepended and every outline
 * expanded into one scenario per example row, as cucumber itself runs them.
 */
export function readScenarios(path: string): Scenario[] {
  const newId = IdGenerator.incrementing();
  const document = new Parser(new AstBuilder(newId), new GherkinClassicTokenMatcher()).parse(
    readFileSync(path, 'utf8'),
  );
  const pickles = compile(document, basename(path), newId);
  const seen = new Map<string, number>();
  return pickles.map((pickle) => {
    const steps = pickle.steps.map((step) => ({
      text: step.text,
      table: step.argument?.dataTable?.rows.map((row) => row.cells.map((cell) => cell.value)) ?? null,
    }));
    // Outline rows share the scenario name: tell them apart by the values quoted in their steps.
    const quoted = steps.flatMap((step) => [...step.text.matchAll(/"([^"]*)"/g)].map((m) => m[1]));
    let title = `${pickle.name} [${quoted.join(' | ')}]`;
    const count = (seen.get(title) ?? 0) + 1;
    seen.set(title, count);
    if (count > 1) title = `${title} #${count}`;
    return { title, tags: pickle.tags.map((tag) => tag.name), steps };
  });
}
