import { useEffect } from 'react';
import { useApp } from './app-context.js';
import { Spinner } from './components/controls.js';
import { Toasts } from './components/Toasts.js';
import { AboutView } from './views/AboutView.js';
import { LogsView } from './views/LogsView.js';
import { ResourcesView } from './views/ResourcesView.js';
import { SettingsView } from './views/SettingsView.js';
import { Sidebar } from './views/Sidebar.js';
import { SignInView } from './views/SignInView.js';

/** Applies the theme setting; "system" follows prefers-color-scheme live. */
function useTheme() {
  const theme = useApp((s) => s.settings?.values.theme ?? 'system');
  useEffect(() => {
    const media = window.matchMedia('(prefers-color-scheme: dark)');
    const apply = () => {
      document.documentElement.dataset.theme =
        theme === 'system' ? (media.matches ? 'dark' : 'light') : theme;
    };
    apply();
    media.addEventListener('change', apply);
    return () => media.removeEventListener('change', apply);
  }, [theme]);
}

export function App() {
  const phase = useApp((s) => s.phase);
  const loadError = useApp((s) => s.loadError);
  const view = useApp((s) => s.view);
  const signedIn = useApp((s) => s.auth.kind === 'signed-in');
  useTheme();

  if (phase === 'loading') {
    return (
      <div className="page page-center">
        <Spinner label="Loading" />
      </div>
    );
  }
  if (phase === 'failed') {
    return (
      <div className="page page-center" role="alert">
        <h1>FZ Desktop could not load</h1>
        <p className="muted">{loadError}</p>
      </div>
    );
  }
  return (
    <div className="shell">
      <a className="skip-link" href="#content">
        Skip to content
      </a>
      <Sidebar />
      <div id="content" className="content" tabIndex={-1}>
        {view === 'home' ? signedIn ? <ResourcesView /> : <SignInView /> : null}
        {view === 'settings' ? <SettingsView /> : null}
        {view === 'logs' ? <LogsView /> : null}
        {view === 'about' ? <AboutView /> : null}
      </div>
      <Toasts />
    </div>
  );
}
