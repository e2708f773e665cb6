import { AlertDialog, Dialog } from 'radix-ui';
import { type ReactElement, type ReactNode, useState } from 'react';
import { FormError } from './forms';

/**
 * A confirmation before something that is hard to take back (a kill switch, an erasure, a
 * revocation): Radix's alert dialog, so focus moves into it and Escape cancels. `onConfirm`'s
 * failure is shown in the dialog, which stays open.
 */
export function ConfirmDialog(props: {
  trigger: ReactElement;
  title: string;
  description: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => Promise<unknown>;
}): ReactElement {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  return (
    <AlertDialog.Root
      open={open}
      onOpenChange={(next) => {
        setOpen(next);
        if (next) setError(undefined);
      }}
    >
      <AlertDialog.Trigger asChild>{props.trigger}</AlertDialog.Trigger>
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="dialog-overlay" />
        <AlertDialog.Content className="dialog">
          <AlertDialog.Title asChild>
            <h2>{props.title}</h2>
          </AlertDialog.Title>
          <AlertDialog.Description asChild>
            <div>{props.description}</div>
          </AlertDialog.Description>
          <FormError error={error} />
          <div className="actions">
            <AlertDialog.Cancel asChild>
              <button type="button">Cancel</button>
            </AlertDialog.Cancel>
            <button
              type="button"
              className={props.danger ? 'danger' : 'primary'}
              disabled={busy}
              onClick={async () => {
                setBusy(true);
                try {
                  await props.onConfirm();
                  setOpen(false);
                } catch (failure) {
                  setError(failure);
                } finally {
                  setBusy(false);
                }
              }}
            >
              {props.confirmLabel}
            </button>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}

/** A dialog holding a form (create a grant, invite a user): `children` gets `close`. */
export function FormDialog(props: {
  trigger: ReactElement;
  title: string;
  description?: ReactNode;
  children: (close: () => void) => ReactNode;
}): ReactElement {
  const [open, setOpen] = useState(false);
  return (
    <Dialog.Root open={open} onOpenChange={setOpen}>
      <Dialog.Trigger asChild>{props.trigger}</Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="dialog-overlay" />
        <Dialog.Content className="dialog" {...(props.description ? {} : { 'aria-describedby': undefined })}>
          <Dialog.Title asChild>
            <h2>{props.title}</h2>
          </Dialog.Title>
          {props.description ? (
            <Dialog.Description asChild>
              <p className="muted">{props.description}</p>
            </Dialog.Description>
          ) : null}
          {props.children(() => setOpen(false))}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
