import type { ReactNode } from 'react';
import type { UpdateState } from '../../src-shared/domain.js';
import { useApp, useNow } from '../app-context.js';
import { Spinner } from '../components/controls.js';
import { Icon, Logo } from '../components/Icon.js';
import { formatAgo } from '../model/format.js';

/** A failed download (e.g. a damaged file) is not a failed check: say which step failed. */
function updateFailure(code: string): string {
  return code === 'update-download-failed' ? 'The update could not be downloaded' : 'The update check failed';
}

function UpdateCard({ update }: { update: UpdateState }) {
  const check = useApp((s) => s.checkForUpdates);
  const download = useApp((s) => s.downloadUpdate);
  const install = useApp((s) => s.installUpdate);
  const now = useNow(10_000);
  let body: ReactNode;
  switch (update.kind) {
    case 'disabled':
      body = <p className="muted">Automatic updates are off: {update.reason}</p>;
      break;
    case 'idle':
      body = (
        <>
          <p className="muted">
            {update.lastCheckedAt
              ? `Last checked ${formatAgo(update.lastCheckedAt, now)}.`
              : 'Not checked yet.'}
          </p>
          <button type="button" className="btn" onClick={() => void check()}>
            <Icon name="refresh" size={16} /> Check for updates
          </button>
        </>
      );
      break;
    case 'checking':
      body = (
        <p className="inline-status">
          <Spinner /> Checking for updates…
        </p>
      );
      break;
    case 'up-to-date':
      body = (
        <>
          <p className="inline-status tone-ok">
            <Icon name="check" size={16} /> You have the latest version (checked{' '}
            {formatAgo(update.checkedAt, now)}).
          </p>
          <button type="button" className="btn" onClick={() => void check()}>
            <Icon name="refresh" size={16} /> Check again
          </button>
        </>
      );
      break;
    case 'available':
      body = (
        <>
          <p>Version {update.version} is available.</p>
          <button type="button" className="btn btn-primary" onClick={() => void download()}>
            <Icon name="download" size={16} /> Download
          </button>
        </>
      );
      break;
    case 'downloading':
      body = (
        <>
          <p>
            Downloading version {update.version}… {update.percent}%
          </p>
          <progress max={100} value={update.percent} aria-label={`Downloading version ${update.version}`} />
        </>
      );
      break;
    case 'ready':
      body = (
        <>
          <p>
            Version <strong>{update.version}</strong> is ready. It will be installed when you quit FZ Desktop.
          </p>
          <button type="button" className="btn btn-primary" onClick={() => void install()}>
            <Icon name="refresh" size={16} /> Restart and install now
          </button>
        </>
      );
      break;
    case 'error':
      body = (
        <>
          <p className="inline-status tone-error">
            <Icon name="alert" size={16} /> {updateFailure(update.error.code)}: {update.error.message}
          </p>
          <button type="button" className="btn" onClick={() => void check()}>
            <Icon name="refresh" size={16} /> Try again
          </button>
        </>
      );
      break;
  }
  return (
    <section className="card" aria-labelledby="update-title" aria-live="polite">
      <h2 id="update-title">Updates</h2>
      {body}
    </section>
  );
}

export function AboutView() {
  const info = useApp((s) => s.info);
  const update = useApp((s) => s.update);
  if (!info) return null;
  const engineLabel =
    info.engine === 'worker'
      ? 'Built in'
      : info.engine === 'simulated'
        ? 'Simulated (demo mode)'
        : 'Not available in this build';
  return (
    <main className="page" aria-labelledby="about-title">
      <header className="about-head">
        <Logo size={64} />
        <div>
          <h1 id="about-title">FZ Desktop</h1>
          <p className="muted">Version {info.version}</p>
          <p>Zero-trust access to your organisation’s resources over peer-to-peer WireGuard® tunnels.</p>
        </div>
      </header>
      <UpdateCard update={update} />
      <section className="card" aria-labelledby="system-title">
        <h2 id="system-title">This installation</h2>
        <dl className="kv-list">
          <div className="kv">
            <dt>Tunnel engine</dt>
            <dd>{engineLabel}</dd>
          </div>
          <div className="kv">
            <dt>Platform</dt>
            <dd>
              {info.platform} ({info.arch})
            </dd>
          </div>
          {info.electron ? (
            <div className="kv">
              <dt>Electron</dt>
              <dd>{info.electron}</dd>
            </div>
          ) : null}
          {info.chrome ? (
            <div className="kv">
              <dt>Chromium</dt>
              <dd>{info.chrome}</dd>
            </div>
          ) : null}
          <div className="kv">
            <dt>Node.js</dt>
            <dd>{info.node}</dd>
          </div>
          <div className="kv">
            <dt>Logs</dt>
            <dd className="mono small">{info.logDirectory}</dd>
          </div>
        </dl>
      </section>
      <p className="small muted">
        Open source under the Apache-2.0 licence. WireGuard is a registered trademark of Jason A. Donenfeld.
      </p>
    </main>
  );
}
