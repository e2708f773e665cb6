import { type ReactElement, type ReactNode, useState } from 'react';
import { Field } from '../../ui/forms';

/**
 * A value to take away (a key's secret, a one-time link): read-only, selected on focus, with a
 * button that puts it on the clipboard and says whether that worked.
 */
export function CopyField(props: { label: string; value: string; hint?: ReactNode }): ReactElement {
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  return (
    <Field label={props.label} hint={props.hint}>
      {(control) => (
        <div className="row">
          <input
            {...control}
            readOnly
            value={props.value}
            spellCheck={false}
            onFocus={(event) => event.currentTarget.select()}
            style={{ flex: 1, minWidth: '16rem', fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace' }}
          />
          <button
            type="button"
            onClick={async () => {
              try {
                await navigator.clipboard.writeText(props.value);
                setCopied('yes');
              } catch {
                setCopied('failed');
              }
            }}
          >
            Copy
          </button>
          <span className="small muted" role="status">
            {copied === 'yes' ? 'Copied.' : copied === 'failed' ? 'Could not copy: select the text and copy it.' : ''}
          </span>
        </div>
      )}
    </Field>
  );
}
