import { useApp, useNow } from '../app-context.js';
import { Spinner, StatusDot } from '../components/controls.js';
import { Icon, Logo, type IconName } from '../components/Icon.js';
import { displayTunnel, presentTunnel } from '../model/tunnel.js';
import type { View } from '../store.js';

function TunnelCard() {
  const tunnel = useApp((s) => s.tunnel);
  const pending = useApp((s) => s.pending);
  const connect = useApp((s) => s.connect);
  const disconnect = useApp((s) => s.disconnect);
  const now = useNow(1000);
  const shown = displayTunnel(tunnel, pending);
  const p = presentTunnel(shown, now);
  return (
    <section className={`tunnel-card tone-${p.tone}`} aria-labelledby="tunnel-title">
      <div className="tunnel-head">
        {p.tone === 'busy' ? <Spinner /> : <StatusDot tone={p.tone} />}
        <h2 id="tunnel-title" className="tunnel-title" aria-live="polite">
          {p.title}
        </h2>
      </div>
      {p.detail ? <p className="tunnel-detail">{p.detail}</p> : null}
      {p.action === 'connect' || p.action === 'retry' ? (
        <button type="button" className="btn btn-primary btn-block" onClick={() => void connect()}>
          <Icon name="power" size={16} />
          {p.action === 'retry' ? 'Try again' : 'Connect'}
        </button>
      ) : p.action === 'disconnect' ? (
        <button type="button" className="btn btn-block" onClick={() => void disconnect()}>
          <Icon name="power" size={16} />
          Disconnect
        </button>
      ) : (
        <button type="button" className="btn btn-block" disabled>
          Please wait…
        </button>
      )}
    </section>
  );
}

function NavItem({
  view,
  icon,
  label,
  badge,
}: {
  view: View;
  icon: IconName;
  label: string;
  badge?: string | null;
}) {
  const current = useApp((s) => s.view);
  const setView = useApp((s) => s.setView);
  return (
    <li>
      <button
        type="button"
        className="nav-item"
        aria-current={current === view ? 'page' : undefined}
        onClick={() => setView(view)}
      >
        <Icon name={icon} />
        <span>{label}</span>
        {badge ? <span className="nav-badge">{badge}</span> : null}
      </button>
    </li>
  );
}

export function Sidebar() {
  const auth = useApp((s) => s.auth);
  const resourceCount = useApp((s) => s.resources.filter((r) => r.type !== 'internet').length);
  const updateReady = useApp((s) => s.update.kind === 'ready');
  const signOut = useApp((s) => s.signOut);
  const signedIn = auth.kind === 'signed-in';
  return (
    <nav className="sidebar" aria-label="Main">
      <div className="brand">
        <Logo />
        <span>FZ Desktop</span>
      </div>
      {signedIn ? <TunnelCard /> : null}
      <ul className="nav">
        <NavItem
          view="home"
          icon={signedIn ? 'grid' : 'key'}
          label={signedIn ? 'Resources' : 'Sign in'}
          badge={signedIn && resourceCount ? String(resourceCount) : null}
        />
        <NavItem view="settings" icon="gear" label="Settings" />
        <NavItem view="logs" icon="list" label="Logs" />
        <NavItem view="about" icon="about" label="About" badge={updateReady ? 'Update' : null} />
      </ul>
      {auth.kind === 'signed-in' ? (
        <div className="account">
          <div className="account-who">
            <span className="account-name">{auth.account.actorName || 'Signed in'}</span>
            <span className="account-org">{auth.account.accountName}</span>
          </div>
          <button type="button" className="btn btn-ghost btn-small" onClick={() => void signOut()}>
            <Icon name="signout" size={16} />
            Sign out
          </button>
        </div>
      ) : null}
    </nav>
  );
}
