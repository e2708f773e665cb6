import { type ButtonHTMLAttributes, type ReactNode, useState } from 'react';

export interface PortalButtonProps
  extends Omit<ButtonHTMLAttributes<HTMLButtonElement>, 'onClick' | 'onError' | 'type'> {
  /**
   * Asks your backend for a portal link for the signed-in customer and answers its `url`: your
   * backend calls `POST /v1/portal-sessions` with the secret key (never from the browser).
   */
  getUrl: () => Promise<string>;
  /** Goes to the URL; `window.location.assign` by default. */
  navigate?: (url: string) => void;
  /** Called when `getUrl` fails (the button also shows the failure). */
  onError?: (error: Error) => void;
  /** The button's text (default "Manage plan"). */
  children?: ReactNode;
}

/**
 * A button that opens Keymaster's customer portal: on click it asks your backend for a link
 * (`getUrl`) and navigates there. It is disabled and `aria-busy` while asking; a failure is
 * shown next to it (`role="alert"`). Unstyled: the `km-portal-button*` classes.
 *
 * @example
 * <PortalButton getUrl={async () => (await (await fetch('/api/billing/portal', { method: 'POST' })).json()).url}>
 *   Manage plan
 * </PortalButton>
 */
export function PortalButton({
  getUrl,
  navigate,
  onError,
  children = 'Manage plan',
  className,
  disabled,
  ...rest
}: PortalButtonProps): ReactNode {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);

  async function open(): Promise<void> {
    setBusy(true);
    setError(null);
    try {
      const url = await getUrl();
      (navigate ?? ((to: string) => window.location.assign(to)))(url);
    } catch (failure) {
      const problem = failure instanceof Error ? failure : new Error(String(failure));
      setError(problem);
      onError?.(problem);
    } finally {
      setBusy(false);
    }
  }

  return (
    <span className="km-portal-button-wrap">
      <button
        {...rest}
        type="button"
        className={className ? `km-portal-button ${className}` : 'km-portal-button'}
        disabled={disabled || busy}
        aria-busy={busy || undefined}
        onClick={() => void open()}
      >
        {children}
      </button>
      {error ? (
        <span className="km-portal-button-error" role="alert">
          The portal could not be opened: {error.message}
        </span>
      ) : null}
    </span>
  );
}
