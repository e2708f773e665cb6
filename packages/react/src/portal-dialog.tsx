import { type ReactNode, useEffect, useId, useRef } from 'react';

export interface PortalDialogProps {
  title: ReactNode;
  children?: ReactNode;
  /** The buttons, last: the dialog's `km-dialog-actions` row. */
  actions: ReactNode;
  /** Escape pressed (unless `busy`): close the dialog by no longer rendering it. */
  onDismiss: () => void;
  busy?: boolean;
  className?: string;
}

/**
 * A modal confirmation step: the browser's own `<dialog>` opened with `showModal()`, so the
 * page behind is inert, focus moves into it and Escape dismisses it. Shown while rendered.
 * Unstyled: the `km-dialog` class (and `::backdrop`).
 */
export function PortalDialog({ title, children, actions, onDismiss, busy = false, className }: PortalDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog === null) return;
    if (!dialog.open) {
      if (typeof dialog.showModal === 'function') dialog.showModal();
      else dialog.setAttribute('open', '');
    }
    return () => {
      if (typeof dialog.close === 'function') dialog.close();
      else dialog.removeAttribute('open');
    };
  }, []);
  return (
    <dialog
      ref={ref}
      className={className ? `km-dialog ${className}` : 'km-dialog'}
      aria-labelledby={titleId}
      aria-busy={busy || undefined}
      onCancel={(event) => {
        // Escape: the dialog stays until its owner stops rendering it.
        event.preventDefault();
        if (!busy) onDismiss();
      }}
    >
      <h2 id={titleId} className="km-dialog-title">
        {title}
      </h2>
      {children}
      <div className="km-dialog-actions actions">{actions}</div>
    </dialog>
  );
}
