import { useEffect, useRef, type ReactNode } from 'react';
import type { Resource } from '../../src-shared/domain.js';
import { useApp, useNow } from '../app-context.js';
import { StatusDot } from '../components/controls.js';
import { Icon } from '../components/Icon.js';
import { formatAgo, formatBytes, formatDuration, formatRtt } from '../model/format.js';
import { resourceStatus, siteStatusLabel } from '../model/resources.js';

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="kv">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** Per-resource diagnostics beside the list: path, gateway, RTT, bytes, last handshake. */
export function DiagnosticsPanel({ resource }: { resource: Resource }) {
  const tunnel = useApp((s) => s.tunnel);
  const select = useApp((s) => s.selectResource);
  const copyAddress = useApp((s) => s.copyAddress);
  const now = useNow(1000);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const status = resourceStatus(resource, tunnel);
  const site = resource.sites[0] ?? null;
  const siteStatus = siteStatusLabel(site);
  const c = resource.connection;

  useEffect(() => {
    headingRef.current?.focus();
  }, [resource.id]);

  const close = () => {
    const id = resource.id;
    select(null);
    // Focus goes back to the row that opened the panel.
    requestAnimationFrame(() =>
      document.querySelector<HTMLElement>(`[data-resource-id="${CSS.escape(id)}"]`)?.focus(),
    );
  };

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !(e.target instanceof HTMLInputElement)) close();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });

  return (
    <aside id="diagnostics-panel" className="panel" aria-labelledby="diag-title">
      <header className="panel-head">
        <div>
          <p className="eyebrow">Diagnostics</p>
          <h2 id="diag-title" ref={headingRef} tabIndex={-1}>
            {resource.name}
          </h2>
        </div>
        <button type="button" className="icon-btn" aria-label="Close diagnostics" onClick={close}>
          <Icon name="close" />
        </button>
      </header>

      <dl className="kv-list">
        {resource.type !== 'internet' ? (
          <Row label="Address">
            <span className="mono">{resource.address}</span>{' '}
            <button type="button" className="link" onClick={() => void copyAddress(resource)}>
              Copy
            </button>
          </Row>
        ) : null}
        <Row label="Type">
          {resource.type === 'dns' ? 'DNS name' : resource.type === 'cidr' ? 'IP range' : 'Internet'}
        </Row>
        <Row label="Site">
          {site ? (
            <span className={`inline-status tone-${siteStatus.tone}`}>
              <StatusDot tone={siteStatus.tone} /> {site.name} · {siteStatus.label}
            </span>
          ) : (
            'None'
          )}
        </Row>
        <Row label="Status">
          <span className={`inline-status tone-${status.tone}`}>
            <StatusDot tone={status.tone} /> {status.label}
          </span>
        </Row>
      </dl>

      <h3 className="panel-sub">Connection</h3>
      {c.state === 'connected' ? (
        <dl className="kv-list">
          <Row label="Path">
            <span className={`path-chip path-${c.diagnostics.path}`}>
              <Icon name="route" size={14} />
              {c.diagnostics.path === 'direct' ? 'Direct (peer-to-peer)' : 'Relayed (TURN)'}
            </span>
          </Row>
          <Row label="Gateway">
            {c.diagnostics.gatewayName ?? c.diagnostics.gatewayId}
            <br />
            <span className="mono small">{c.diagnostics.remoteAddress}</span>
          </Row>
          {c.diagnostics.relayAddress ? (
            <Row label="Relay">
              <span className="mono">{c.diagnostics.relayAddress}</span>
            </Row>
          ) : null}
          <Row label="Round trip">{formatRtt(c.diagnostics.rttMs)}</Row>
          <Row label="Sent">{formatBytes(c.diagnostics.txBytes)}</Row>
          <Row label="Received">{formatBytes(c.diagnostics.rxBytes)}</Row>
          <Row label="Last handshake">{formatAgo(c.diagnostics.lastHandshakeAt, now)}</Row>
          <Row label="Connected for">{formatDuration(now - c.diagnostics.establishedAt)}</Row>
        </dl>
      ) : c.state === 'connecting' ? (
        <p className="muted">
          Setting up a tunnel to a gateway of this site ({formatDuration(now - c.since)} so far)…
        </p>
      ) : c.state === 'failed' ? (
        <div className="panel-failure">
          <p>
            <strong>Unreachable</strong> ({c.reason.replace(/_/g, ' ')}, {formatAgo(c.at, now)})
          </p>
          <p className="muted">{c.message}</p>
        </div>
      ) : (
        <p className="muted">
          {tunnel.state === 'connected'
            ? 'No tunnel yet. One is set up the first time an app on this computer connects to this resource.'
            : 'Connect to reach this resource.'}
        </p>
      )}
    </aside>
  );
}
