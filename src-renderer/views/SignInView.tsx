import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { AuthState } from '../../src-shared/domain.js';
import { useApp, useNow } from '../app-context.js';
import { Alert, Spinner } from '../components/controls.js';
import { Icon, Logo } from '../components/Icon.js';
import { formatCountdown } from '../model/format.js';

function signedOutMessage(auth: Extract<AuthState, { kind: 'signed-out' }>) {
  switch (auth.reason.code) {
    case 'user':
      return null;
    case 'portal':
      return (
        <Alert tone="warn" title="You were signed out">
          {auth.reason.message} Sign in again to reach your resources.
        </Alert>
      );
    case 'sign-in-failed':
      return (
        <Alert tone="error" title="Sign-in failed">
          {auth.reason.error.message}
        </Alert>
      );
  }
}

function SignedOut({ auth }: { auth: Extract<AuthState, { kind: 'signed-out' }> }) {
  const settings = useApp((s) => s.settings);
  const signIn = useApp((s) => s.signIn);
  const setView = useApp((s) => s.setView);
  const locked = settings?.locked.includes('accountSlug') ?? false;
  const [slug, setSlug] = useState(settings?.values.accountSlug ?? '');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (locked && settings) setSlug(settings.values.accountSlug);
  }, [locked, settings]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const value = slug.trim();
    if (!value) {
      setError('Enter your account ID. Your administrator can tell you what it is.');
      inputRef.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    const err = await signIn(value);
    setBusy(false);
    if (err) {
      setError(err.message);
      inputRef.current?.focus();
    }
  }

  let authHost: string;
  try {
    authHost = settings ? new URL(settings.values.authUrl).host : '';
  } catch {
    authHost = '';
  }

  return (
    <div className="signin-card">
      <Logo size={56} />
      <h1>Sign in to FZ Desktop</h1>
      <p className="muted">
        Reach your organisation’s resources over direct, end-to-end encrypted tunnels. You sign in with your
        browser
        {authHost ? (
          <>
            {' '}
            at <strong>{authHost}</strong>
          </>
        ) : null}
        .
      </p>
      {signedOutMessage(auth)}
      <form className="signin-form" onSubmit={(e) => void submit(e)} noValidate>
        <label htmlFor={`${id}-slug`} className="field-label">
          Account ID
        </label>
        <input
          ref={inputRef}
          id={`${id}-slug`}
          className="input"
          value={slug}
          onChange={(e) => setSlug(e.target.value)}
          placeholder="e.g. acme"
          autoComplete="organization"
          spellCheck={false}
          disabled={locked || busy}
          aria-invalid={error ? true : undefined}
          aria-describedby={`${id}-hint${error ? ` ${id}-err` : ''}`}
          autoFocus
        />
        <span id={`${id}-hint`} className="field-description">
          {locked ? 'Set by your organisation.' : 'The short name of your organisation’s account.'}
        </span>
        {error ? (
          <span id={`${id}-err`} className="field-error" role="alert">
            {error}
          </span>
        ) : null}
        <button type="submit" className="btn btn-primary btn-large" disabled={busy}>
          {busy ? <Spinner /> : <Icon name="external" size={16} />}
          Sign in with your browser
        </button>
      </form>
      <p className="small muted">
        Using your own portal?{' '}
        <button type="button" className="link" onClick={() => setView('settings')}>
          Change the portal in Settings
        </button>
      </p>
    </div>
  );
}

function SigningIn({ auth }: { auth: Extract<AuthState, { kind: 'signing-in' }> }) {
  const reopen = useApp((s) => s.reopenBrowser);
  const cancel = useApp((s) => s.cancelSignIn);
  const now = useNow(1000);
  return (
    <div className="signin-card" aria-busy="true">
      <Spinner label="Waiting for the browser" />
      <h1>Continue in your browser</h1>
      <p className="muted">
        We opened <strong>{auth.authHost}</strong> in your browser for the account{' '}
        <strong>{auth.accountSlug}</strong>. Sign in there; this window updates by itself.
      </p>
      {auth.notice ? (
        <Alert tone="warn" title="A sign-in link was ignored">
          {auth.notice.message}
        </Alert>
      ) : null}
      <div className="button-row">
        <button type="button" className="btn btn-primary" onClick={() => void reopen()}>
          <Icon name="external" size={16} />
          Open the page again
        </button>
        <button type="button" className="btn" onClick={() => void cancel()}>
          Cancel
        </button>
      </div>
      <p className="small muted">This sign-in expires in {formatCountdown(auth.expiresAt - now)}.</p>
    </div>
  );
}

export function SignInView() {
  const auth = useApp((s) => s.auth);
  return (
    <main className="page page-center" aria-label="Sign in">
      {auth.kind === 'signing-in' ? (
        <SigningIn auth={auth} />
      ) : auth.kind === 'signed-out' ? (
        <SignedOut auth={auth} />
      ) : null}
    </main>
  );
}
