import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { NoticeEventTypes } from '@keymaster/core';
import Mustache from 'mustache';

/** The parts of an email, each a mustache template, named by their file's extension. */
const parts = ['subject', 'txt', 'html'] as const;
type Part = (typeof parts)[number];

/** What a template can show. See docs/notifications.md#templates. */
export interface EmailView {
  /** The notice type (the event type), e.g. `usage.threshold_reached`. */
  type: string;
  title: string;
  body: string;
  /** `KEYMASTER_EMAIL_PRODUCT_NAME`, or null. */
  product_name: string | null;
  customer: { id: string; name: string | null; email: string };
  /** The event's data, as the notification carries it. */
  data: unknown;
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

export interface EmailTemplates {
  render(view: EmailView): RenderedEmail;
}

const builtIn: Record<Part, string> = {
  subject: '{{#product_name}}{{product_name}}: {{/product_name}}{{title}}',
  txt: `Hello{{#customer.name}} {{customer.name}}{{/customer.name}},

{{title}}

{{body}}
{{#product_name}}

— {{product_name}}
{{/product_name}}
`,
  html: `<!doctype html>
<html>
<body style="font-family: sans-serif; line-height: 1.5">
<p>Hello{{#customer.name}} {{customer.name}}{{/customer.name}},</p>
<h2>{{title}}</h2>
<p>{{body}}</p>
{{#product_name}}
<p>— {{product_name}}</p>
{{/product_name}}
</body>
</html>
`,
};

const known: ReadonlySet<string> = new Set(['default', ...NoticeEventTypes]);

/** Plain text is not HTML: subject and text bodies show values as they are. */
const asIs = { escape: (value: unknown) => String(value) };

/**
 * The email templates: for each part, `<notice type>.<part>` from the directory when there is
 * one, else `default.<part>` from it, else the built-in one. Everything in the directory is read
 * and parsed now, so a directory that cannot be read, a template that does not parse or a file
 * named after no notice type fails the start, not an email hours later.
 *
 * @example
 * loadEmailTemplates(undefined).render({ type: 'trial.ending', title: 'Your trial ends soon', … }).subject;
 */
export function loadEmailTemplates(dir: string | undefined): EmailTemplates {
  const overrides = new Map<string, string>();
  if (dir !== undefined) {
    const problem = (what: string) => new Error(`KEYMASTER_EMAIL_TEMPLATES_DIR (${dir}): ${what}`);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (error) {
      throw problem(`cannot be read: ${(error as Error).message}`);
    }
    for (const name of names) {
      const extension = path.extname(name).slice(1);
      if (!(parts as readonly string[]).includes(extension)) continue;
      const type = name.slice(0, -(extension.length + 1));
      if (!known.has(type)) {
        throw problem(
          `"${name}" is named after no notice type; expected default.${extension} or one of ` +
            `${NoticeEventTypes.map((t) => `${t}.${extension}`).join(', ')}`,
        );
      }
      let template: string;
      try {
        template = readFileSync(path.join(dir, name), 'utf8');
        Mustache.parse(template);
      } catch (error) {
        throw problem(`"${name}": ${(error as Error).message}`);
      }
      overrides.set(name, template);
    }
  }
  const template = (type: string, part: Part) =>
    overrides.get(`${type}.${part}`) ?? overrides.get(`default.${part}`) ?? builtIn[part];

  return {
    render(view) {
      const subject = Mustache.render(template(view.type, 'subject'), view, {}, asIs);
      return {
        // One line, whatever the template's line breaks.
        subject: subject.replace(/\s*[\r\n]+\s*/g, ' ').trim(),
        text: Mustache.render(template(view.type, 'txt'), view, {}, asIs),
        html: Mustache.render(template(view.type, 'html'), view),
      };
    },
  };
}
