import { type ReactElement, type ReactNode, useId } from 'react';
import { ApiError } from '../api/client';

/**
 * A labelled form control with its hint and its error. The control is the one child element;
 * `Field` gives it its id, `aria-invalid` and `aria-describedby`, so a screen reader announces
 * the error with the field.
 */
export function Field(props: {
  label: string;
  /** The message to show under the control: from `fieldError(error, '/name')` or the form's own check. */
  error?: string | undefined;
  hint?: ReactNode;
  children: (control: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ReactElement;
}): ReactElement {
  const id = useId();
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [props.hint ? hintId : '', props.error ? errorId : ''].filter(Boolean).join(' ');
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.children({
        id,
        'aria-invalid': props.error !== undefined,
        ...(describedBy ? { 'aria-describedby': describedBy } : {}),
      })}
      {props.hint ? (
        <span className="hint" id={hintId}>
          {props.hint}
        </span>
      ) : null}
      {props.error ? (
        <span className="error" id={errorId} role="alert">
          {props.error}
        </span>
      ) : null}
    </div>
  );
}

/**
 * A group of controls under one legend (checkboxes, say), with the error for the group under them:
 * the fieldset names the error for a screen reader, as `Field` does for one control.
 */
export function FieldGroup(props: { legend: string; error?: string | undefined; children: ReactNode }): ReactElement {
  const id = useId();
  return (
    <fieldset
      className="field"
      aria-describedby={props.error ? `${id}-error` : undefined}
      style={{ border: 'none', padding: 0, margin: '0 0 0.85rem' }}
    >
      <legend style={{ fontWeight: 600, fontSize: '0.9rem', padding: 0 }}>{props.legend}</legend>
      {props.children}
      {props.error ? (
        <span className="error" id={`${id}-error`} role="alert">
          {props.error}
        </span>
      ) : null}
    </fieldset>
  );
}

/** The server's message for the body field at `path` (a JSON pointer such as `/name`), if it named one. */
export function fieldError(error: unknown, path: string): string | undefined {
  return error instanceof ApiError ? error.fieldError(path) : undefined;
}

/**
 * A failed request's message for the whole form: the problem's detail, plus any field errors
 * that no field of the form shows (`shown` lists the paths the form has fields for).
 */
export function FormError(props: { error: unknown; shown?: readonly string[] }): ReactElement | null {
  const { error } = props;
  if (!error) return null;
  if (!(error instanceof ApiError)) {
    return (
      <p className="form-error" role="alert">
        {error instanceof Error ? error.message : String(error)}
      </p>
    );
  }
  const unshown = error.errors.filter((e) => !props.shown?.includes(e.path));
  return (
    <div className="alert error" role="alert">
      {error.message}
      {unshown.length > 0 ? (
        <ul>
          {unshown.map((e) => (
            <li key={`${e.path}:${e.message}`}>
              <code>{e.path}</code> {e.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

/** An error answer shown where the data would have been. */
export function ErrorAlert(props: { error: unknown; title?: string }): ReactElement {
  const message = props.error instanceof Error ? props.error.message : String(props.error);
  return (
    <div className="alert error" role="alert">
      {props.title ? <strong>{props.title}: </strong> : null}
      {message}
    </div>
  );
}

export function Loading(props: { what?: string }): ReactElement {
  return (
    <p className="muted" aria-live="polite">
      Loading{props.what ? ` ${props.what}` : ''}…
    </p>
  );
}
