import { useApp } from '../app-context.js';
import { Icon } from './Icon.js';

/** Short-lived feedback. Errors are announced assertively, the rest politely. */
export function Toasts() {
  const toasts = useApp((s) => s.toasts);
  const dismiss = useApp((s) => s.dismissToast);
  return (
    <div className="toasts">
      <div aria-live="polite" className="toast-stack">
        {toasts
          .filter((t) => t.tone !== 'error')
          .map((t) => (
            <div key={t.id} className={`toast toast-${t.tone}`}>
              <Icon name={t.tone === 'success' ? 'check' : 'info'} />
              <span>{t.message}</span>
              <button type="button" className="icon-btn" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
                <Icon name="close" size={14} />
              </button>
            </div>
          ))}
      </div>
      <div aria-live="assertive" className="toast-stack">
        {toasts
          .filter((t) => t.tone === 'error')
          .map((t) => (
            <div key={t.id} className="toast toast-error" role="alert">
              <Icon name="alert" />
              <span>{t.message}</span>
              <button type="button" className="icon-btn" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
                <Icon name="close" size={14} />
              </button>
            </div>
          ))}
      </div>
    </div>
  );
}
