import {
  useEffect,
  useId,
  useMemo,
  useRef,
  useState,
  type FormEvent,
  type KeyboardEvent,
  type ReactNode,
} from 'react';
import { LOG_LEVELS, THEMES, type SettingKey, type Settings } from '../../src-shared/domain.js';
import { SETTING_LABELS } from '../../src-shared/settings-meta.js';
import { useApp } from '../app-context.js';
import { Alert, ConfirmDialog, LockBadge, Switch } from '../components/controls.js';

type Tab = 'general' | 'advanced';
const LOCKED = 'Set by your organisation';

const THEME_LABELS: Record<(typeof THEMES)[number], string> = {
  system: 'Match the system',
  light: 'Light',
  dark: 'Dark',
};
const LEVEL_LABELS: Record<(typeof LOG_LEVELS)[number], string> = {
  error: 'Errors only',
  warn: 'Warnings and errors',
  info: 'Info (recommended)',
  debug: 'Debug',
  trace: 'Trace (very detailed)',
};

function diff(a: Settings, b: Settings): Partial<Settings> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(b) as SettingKey[]) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out[k] = b[k];
  }
  return out as Partial<Settings>;
}

function TextField({
  name,
  value,
  onChange,
  locked,
  error,
  description,
  placeholder,
  mono = false,
}: {
  name: SettingKey;
  value: string;
  onChange: (v: string) => void;
  locked: boolean;
  error: string | null;
  description?: ReactNode;
  placeholder?: string;
  mono?: boolean;
}) {
  const id = useId();
  return (
    <div className={`field${locked ? ' is-disabled' : ''}`}>
      <label htmlFor={id} className="field-label">
        {SETTING_LABELS[name]}
        {locked ? <LockBadge reason={LOCKED} /> : null}
      </label>
      <input
        id={id}
        name={name}
        className={`input${mono ? ' mono' : ''}`}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        disabled={locked}
        placeholder={placeholder}
        spellCheck={false}
        aria-invalid={error ? true : undefined}
        aria-describedby={
          [description ? `${id}-d` : '', error ? `${id}-e` : ''].filter(Boolean).join(' ') || undefined
        }
      />
      {description ? (
        <span className="field-description" id={`${id}-d`}>
          {description}
        </span>
      ) : null}
      {error ? (
        <span className="field-error" id={`${id}-e`}>
          {error}
        </span>
      ) : null}
    </div>
  );
}

export function SettingsView() {
  const state = useApp((s) => s.settings);
  const save = useApp((s) => s.saveSettings);
  const reset = useApp((s) => s.resetSettings);
  const toast = useApp((s) => s.toast);
  const auth = useApp((s) => s.auth.kind);
  const [tab, setTab] = useState<Tab>('general');
  const [draft, setDraft] = useState<Settings | null>(state?.values ?? null);
  const [error, setError] = useState<{ field: string | null; message: string } | null>(null);
  const [saving, setSaving] = useState(false);
  const [confirmReset, setConfirmReset] = useState(false);
  const tabRefs = useRef<Record<Tab, HTMLButtonElement | null>>({ general: null, advanced: null });

  const changes = useMemo(() => (state && draft ? diff(state.values, draft) : {}), [state, draft]);
  const dirty = Object.keys(changes).length > 0;

  const adoptNext = useRef(false);
  // Adopt main's values when nothing is being edited (the tray, another window) or after a reset.
  useEffect(() => {
    if (state && (!dirty || adoptNext.current)) {
      adoptNext.current = false;
      setDraft(state.values);
    }
  }, [state]);

  if (!state || !draft) return null;
  const locked = (k: SettingKey) => state.locked.includes(k);
  const set = <K extends SettingKey>(k: K, v: Settings[K]) => {
    setDraft({ ...draft, [k]: v });
    if (error?.field === k) setError(null);
  };
  const fieldError = (k: SettingKey) => (error?.field === k ? error.message.replace(/^[^:]+:\s*/, '') : null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!dirty) return;
    setSaving(true);
    const err = await save(changes);
    setSaving(false);
    if (err) {
      setError({ field: err.field ?? null, message: err.message });
      if (
        err.field === 'portalUrl' ||
        err.field === 'authUrl' ||
        err.field === 'logLevel' ||
        err.field === 'updateFeedUrl'
      ) {
        setTab('advanced');
      } else if (err.field) {
        setTab('general');
      }
      return;
    }
    setError(null);
    const needsSignIn = auth === 'signed-in' && ('portalUrl' in changes || 'authUrl' in changes);
    toast(
      'success',
      needsSignIn ? 'Settings saved. The new portal applies the next time you sign in.' : 'Settings saved.',
    );
  }

  const onTabKey = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight' && e.key !== 'Home' && e.key !== 'End') return;
    e.preventDefault();
    const next: Tab =
      e.key === 'Home'
        ? 'general'
        : e.key === 'End'
          ? 'advanced'
          : tab === 'general'
            ? 'advanced'
            : 'general';
    setTab(next);
    tabRefs.current[next]?.focus();
  };

  const tabButton = (t: Tab, label: string) => (
    <button
      type="button"
      role="tab"
      id={`tab-${t}`}
      ref={(el) => {
        tabRefs.current[t] = el;
      }}
      aria-selected={tab === t}
      aria-controls={`panel-${t}`}
      tabIndex={tab === t ? 0 : -1}
      className="tab"
      onClick={() => setTab(t)}
    >
      {label}
    </button>
  );

  return (
    <main className="page" aria-labelledby="settings-title">
      <header className="page-head">
        <div>
          <h1 id="settings-title">Settings</h1>
          <p className="muted">
            {state.locked.length
              ? `Some settings are managed by your organisation (${state.files.managed}).`
              : 'Saved on this computer for your user account.'}
          </p>
        </div>
      </header>

      {state.problems.map((p) => (
        <Alert
          key={`${p.source}-${p.code}-${p.message}`}
          tone="warn"
          title={p.source === 'managed' ? 'Managed configuration' : 'Your settings'}
        >
          {p.message}
        </Alert>
      ))}

      <form className="settings-form" onSubmit={(e) => void submit(e)} noValidate>
        <div role="tablist" aria-label="Settings sections" className="tabs" onKeyDown={onTabKey}>
          {tabButton('general', 'General')}
          {tabButton('advanced', 'Advanced')}
        </div>

        {error && !error.field ? (
          <Alert tone="error" title="Not saved">
            {error.message}
          </Alert>
        ) : null}

        <div
          role="tabpanel"
          id="panel-general"
          aria-labelledby="tab-general"
          hidden={tab !== 'general'}
          className="card"
        >
          <TextField
            name="accountSlug"
            value={draft.accountSlug}
            onChange={(v) => set('accountSlug', v)}
            locked={locked('accountSlug')}
            error={fieldError('accountSlug')}
            description="Used when you sign in."
            placeholder="e.g. acme"
          />
          <Switch
            label={SETTING_LABELS.startOnLogin}
            description="Start FZ Desktop in the tray when you log in to this computer."
            checked={draft.startOnLogin}
            onChange={(v) => set('startOnLogin', v)}
            disabled={locked('startOnLogin')}
            lockedReason={locked('startOnLogin') ? LOCKED : undefined}
          />
          <Switch
            label={SETTING_LABELS.connectOnStart}
            description="Connect automatically when the app starts and you are signed in."
            checked={draft.connectOnStart}
            onChange={(v) => set('connectOnStart', v)}
            disabled={locked('connectOnStart')}
            lockedReason={locked('connectOnStart') ? LOCKED : undefined}
          />
          <div className={`field${locked('theme') ? ' is-disabled' : ''}`}>
            <span className="field-label" id="theme-label">
              {SETTING_LABELS.theme}
              {locked('theme') ? <LockBadge reason={LOCKED} /> : null}
            </span>
            <div className="radio-row" role="radiogroup" aria-labelledby="theme-label">
              {THEMES.map((t) => (
                <label key={t} className="radio">
                  <input
                    type="radio"
                    name="theme"
                    value={t}
                    checked={draft.theme === t}
                    disabled={locked('theme')}
                    onChange={() => set('theme', t)}
                  />
                  <span>{THEME_LABELS[t]}</span>
                </label>
              ))}
            </div>
          </div>
        </div>

        <div
          role="tabpanel"
          id="panel-advanced"
          aria-labelledby="tab-advanced"
          hidden={tab !== 'advanced'}
          className="card"
        >
          <TextField
            name="portalUrl"
            value={draft.portalUrl}
            onChange={(v) => set('portalUrl', v)}
            locked={locked('portalUrl')}
            error={fieldError('portalUrl')}
            description="The portal’s API address (wss://). Changes apply the next time you sign in."
            mono
          />
          <TextField
            name="authUrl"
            value={draft.authUrl}
            onChange={(v) => set('authUrl', v)}
            locked={locked('authUrl')}
            error={fieldError('authUrl')}
            description="Where the browser goes to sign in (https://)."
            mono
          />
          <div className={`field${locked('logLevel') ? ' is-disabled' : ''}`}>
            <label htmlFor="log-level" className="field-label">
              {SETTING_LABELS.logLevel}
              {locked('logLevel') ? <LockBadge reason={LOCKED} /> : null}
            </label>
            <select
              id="log-level"
              className="input"
              value={draft.logLevel}
              disabled={locked('logLevel')}
              onChange={(e) => set('logLevel', e.target.value as Settings['logLevel'])}
            >
              {LOG_LEVELS.map((l) => (
                <option key={l} value={l}>
                  {LEVEL_LABELS[l]}
                </option>
              ))}
            </select>
            <span className="field-description">Tokens and secrets are never written to the log.</span>
          </div>
          <Switch
            label={SETTING_LABELS.autoUpdate}
            description="Download new versions in the background and install them when you quit."
            checked={draft.autoUpdate}
            onChange={(v) => set('autoUpdate', v)}
            disabled={locked('autoUpdate')}
            lockedReason={locked('autoUpdate') ? LOCKED : undefined}
          />
          <TextField
            name="updateFeedUrl"
            value={draft.updateFeedUrl}
            onChange={(v) => set('updateFeedUrl', v)}
            locked={locked('updateFeedUrl')}
            error={fieldError('updateFeedUrl')}
            description="Leave empty to use the feed built into this version."
            placeholder="https://updates.example.com/fz-desktop"
            mono
          />
        </div>

        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={!dirty || saving}>
            {saving ? 'Saving…' : 'Save changes'}
          </button>
          <button
            type="button"
            className="btn"
            disabled={!dirty || saving}
            onClick={() => {
              setDraft(state.values);
              setError(null);
            }}
          >
            Discard
          </button>
          <span className="spacer" />
          <button type="button" className="btn btn-ghost" onClick={() => setConfirmReset(true)}>
            Reset to defaults
          </button>
        </div>
      </form>

      <ConfirmDialog
        open={confirmReset}
        title="Reset settings?"
        body="Every setting you can change goes back to its default. Your favourites are kept."
        confirmLabel="Reset"
        danger
        onCancel={() => setConfirmReset(false)}
        onConfirm={() => {
          setConfirmReset(false);
          setError(null);
          adoptNext.current = true;
          void reset();
        }}
      />
    </main>
  );
}
