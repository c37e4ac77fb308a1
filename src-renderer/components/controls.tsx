// Small accessible building blocks: switch, status dot, spinner, alert, confirm dialog.

import { useEffect, useId, useRef, type ReactNode } from 'react';
import { Icon } from './Icon.js';

export function Switch({
  checked,
  onChange,
  label,
  description,
  disabled = false,
  lockedReason,
}: {
  checked: boolean;
  onChange: (checked: boolean) => void;
  label: string;
  description?: ReactNode;
  disabled?: boolean;
  lockedReason?: string;
}) {
  const id = useId();
  return (
    <div className={`field field-switch${disabled ? ' is-disabled' : ''}`}>
      <div className="field-text">
        <span className="field-label" id={`${id}-label`}>
          {label}
          {lockedReason ? <LockBadge reason={lockedReason} /> : null}
        </span>
        {description ? (
          <span className="field-description" id={`${id}-desc`}>
            {description}
          </span>
        ) : null}
      </div>
      <button
        type="button"
        role="switch"
        className="switch"
        aria-checked={checked}
        aria-labelledby={`${id}-label`}
        aria-describedby={description ? `${id}-desc` : undefined}
        disabled={disabled}
        onClick={() => onChange(!checked)}
      >
        <span className="switch-thumb" />
      </button>
    </div>
  );
}

export function LockBadge({ reason }: { reason: string }) {
  return (
    <span className="lock-badge" title={reason}>
      <Icon name="lock" size={13} />
      <span>{reason}</span>
    </span>
  );
}

export type Tone = 'ok' | 'busy' | 'warn' | 'error' | 'muted' | 'off';

export function StatusDot({ tone }: { tone: Tone }) {
  return <span className={`dot tone-${tone}`} aria-hidden="true" />;
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span className="spinner" role={label ? 'status' : undefined} aria-label={label}>
      <span aria-hidden="true" />
    </span>
  );
}

export function Alert({
  tone,
  title,
  children,
  actions,
}: {
  tone: 'info' | 'warn' | 'error';
  title: string;
  children?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <div className={`alert alert-${tone}`} role={tone === 'error' ? 'alert' : 'status'}>
      <Icon name={tone === 'info' ? 'info' : 'alert'} />
      <div className="alert-body">
        <strong>{title}</strong>
        {children ? <div className="alert-text">{children}</div> : null}
        {actions ? <div className="alert-actions">{actions}</div> : null}
      </div>
    </div>
  );
}

/** A modal confirmation on the native <dialog>: focus trap, Escape and backdrop for free. */
export function ConfirmDialog({
  open,
  title,
  body,
  confirmLabel,
  danger = false,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  body: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const id = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-body`}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
    >
      <h2 id={`${id}-title`}>{title}</h2>
      <div id={`${id}-body`} className="dialog-body">
        {body}
      </div>
      <div className="dialog-actions">
        <button type="button" className="btn" onClick={onCancel} autoFocus>
          Cancel
        </button>
        <button type="button" className={danger ? 'btn btn-danger' : 'btn btn-primary'} onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
