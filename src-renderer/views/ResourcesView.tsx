import { useEffect, useMemo, useRef, useState } from 'react';
import type { InternetResource, Resource } from '../../src-shared/domain.js';
import { useApp } from '../app-context.js';
import { Alert, LockBadge, StatusDot } from '../components/controls.js';
import { Icon } from '../components/Icon.js';
import { plural } from '../model/format.js';
import {
  buildBrowserModel,
  highlight,
  resourceStatus,
  siteStatusLabel,
  type ResourceGroup,
} from '../model/resources.js';
import { DiagnosticsPanel } from './DiagnosticsPanel.js';

function Highlighted({ text, terms }: { text: string; terms: readonly string[] }) {
  return (
    <>
      {highlight(text, terms).map((seg, i) =>
        seg.match ? <mark key={i}>{seg.text}</mark> : <span key={i}>{seg.text}</span>,
      )}
    </>
  );
}

function ResourceRow({
  resource,
  favorite,
  terms,
  showSite,
}: {
  resource: Resource;
  favorite: boolean;
  terms: readonly string[];
  showSite: boolean;
}) {
  const tunnel = useApp((s) => s.tunnel);
  const selected = useApp((s) => s.selectedResourceId === resource.id);
  const select = useApp((s) => s.selectResource);
  const setFavorite = useApp((s) => s.setFavorite);
  const copyAddress = useApp((s) => s.copyAddress);
  const status = resourceStatus(resource, tunnel);
  if (resource.type === 'internet') return null;
  return (
    <li className={`resource-row${selected ? ' is-selected' : ''}`}>
      <button
        type="button"
        className={`icon-btn star${favorite ? ' is-on' : ''}`}
        aria-pressed={favorite}
        aria-label={`Favourite: ${resource.name}`}
        title={favorite ? 'Remove from favourites' : 'Add to favourites'}
        onClick={() => void setFavorite(resource, !favorite)}
      >
        <Icon name="star" filled={favorite} />
      </button>
      <button
        type="button"
        className="resource-main"
        aria-expanded={selected}
        aria-controls={selected ? 'diagnostics-panel' : undefined}
        data-resource-id={resource.id}
        onClick={() => select(selected ? null : resource.id)}
      >
        <span className="resource-name">
          <StatusDot tone={status.tone} />
          <span className="resource-title">
            <Highlighted text={resource.name} terms={terms} />
          </span>
          {showSite && resource.sites[0] ? <span className="site-chip">{resource.sites[0].name}</span> : null}
        </span>
        <span className="resource-address mono">
          <Highlighted text={resource.address} terms={terms} />
        </span>
        {resource.addressDescription ? (
          <span className="resource-desc">
            <Highlighted text={resource.addressDescription} terms={terms} />
          </span>
        ) : null}
        <span className={`resource-status tone-${status.tone}`}>{status.label}</span>
      </button>
      <button
        type="button"
        className="icon-btn"
        aria-label={`Copy address of ${resource.name}`}
        title="Copy address"
        onClick={() => void copyAddress(resource)}
      >
        <Icon name="copy" />
      </button>
    </li>
  );
}

function Group({
  group,
  favorites,
  terms,
}: {
  group: ResourceGroup;
  favorites: ReadonlySet<string>;
  terms: readonly string[];
}) {
  const [open, setOpen] = useState(true);
  const headingId = `group-${group.key}`;
  const site = siteStatusLabel(group.site);
  const searching = terms.length > 0;
  return (
    <section className="group" aria-labelledby={headingId}>
      <h2 className="group-head" id={headingId}>
        <button type="button" className="group-toggle" aria-expanded={open} onClick={() => setOpen(!open)}>
          <Icon name="chevron" className={open ? 'rot90' : ''} size={16} />
          {group.kind === 'favorites' ? <Icon name="star" filled size={16} /> : null}
          <span className="group-title">{group.title}</span>
        </button>
        {group.kind === 'site' ? (
          <span className={`badge tone-${site.tone}`}>
            <StatusDot tone={site.tone} />
            {site.label}
          </span>
        ) : null}
        <span className="group-count">
          {searching && group.kind === 'site'
            ? `${group.resources.length} of ${group.total}`
            : group.resources.length}
        </span>
      </h2>
      {open ? (
        <ul className="resource-list">
          {group.resources.map((r) => (
            <ResourceRow
              key={r.id}
              resource={r}
              favorite={favorites.has(r.id)}
              terms={terms}
              showSite={group.kind === 'favorites'}
            />
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function InternetCard({ resource }: { resource: InternetResource }) {
  const enabled = useApp((s) => s.settings?.values.internetResourceEnabled ?? false);
  const locked = useApp((s) => s.settings?.locked.includes('internetResourceEnabled') ?? false);
  const setEnabled = useApp((s) => s.setInternetResourceEnabled);
  const tunnel = useApp((s) => s.tunnel);
  const status = resourceStatus(resource, tunnel);
  const select = useApp((s) => s.selectResource);
  const selected = useApp((s) => s.selectedResourceId === resource.id);
  return (
    <section className="internet-card" aria-labelledby="internet-title">
      <Icon name="globe" size={26} />
      <div className="internet-text">
        <h2 id="internet-title">
          {resource.name}
          {locked ? <LockBadge reason="Set by your organisation" /> : null}
        </h2>
        <p className="muted">
          {enabled
            ? 'All other internet traffic goes through your organisation’s gateway.'
            : 'Internet traffic goes directly to the internet, not through the tunnel.'}
          {enabled ? <span className={`inline-status tone-${status.tone}`}> {status.label}</span> : null}
        </p>
      </div>
      <button
        type="button"
        className="btn btn-small"
        aria-expanded={selected}
        onClick={() => select(selected ? null : resource.id)}
      >
        Details
      </button>
      <button
        type="button"
        role="switch"
        className="switch"
        aria-checked={enabled}
        aria-label="Route internet traffic through the Internet Resource"
        disabled={locked || !resource.canBeDisabled}
        onClick={() => void setEnabled(!enabled)}
      >
        <span className="switch-thumb" />
      </button>
    </section>
  );
}

export function ResourcesView() {
  const resources = useApp((s) => s.resources);
  const favoriteIds = useApp((s) => s.settings?.values.favoriteResourceIds);
  const search = useApp((s) => s.search);
  const setSearch = useApp((s) => s.setSearch);
  const tunnel = useApp((s) => s.tunnel);
  const connect = useApp((s) => s.connect);
  const selectedId = useApp((s) => s.selectedResourceId);
  const searchRef = useRef<HTMLInputElement>(null);
  const model = useMemo(
    () => buildBrowserModel(resources, favoriteIds ?? [], search),
    [resources, favoriteIds, search],
  );
  const favorites = useMemo(() => new Set(favoriteIds ?? []), [favoriteIds]);
  const selected = selectedId ? (resources.find((r) => r.id === selectedId) ?? null) : null;

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing =
        target &&
        (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT');
      if ((e.key === '/' && !typing) || (e.key === 'f' && (e.ctrlKey || e.metaKey))) {
        e.preventDefault();
        searchRef.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const summary =
    model.total === 0
      ? 'No resources'
      : model.terms.length > 0
        ? `${plural(model.matched, 'resource')} of ${model.total} match “${search.trim()}”`
        : `${plural(model.total, 'resource')} in ${plural(model.siteCount, 'site')}`;

  return (
    <div className={`resources-layout${selected ? ' has-panel' : ''}`}>
      <main className="page" aria-labelledby="resources-title">
        <header className="page-head">
          <div>
            <h1 id="resources-title">Resources</h1>
            <p className="muted" aria-live="polite" id="resources-summary">
              {summary}
            </p>
          </div>
          <div className="search">
            <Icon name="search" />
            <input
              ref={searchRef}
              type="search"
              className="input"
              placeholder="Search by name, address or site"
              aria-label="Search resources"
              aria-describedby="resources-summary search-hint"
              value={search}
              onChange={(e) => setSearch(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Escape' && search) {
                  e.preventDefault();
                  setSearch('');
                }
              }}
              spellCheck={false}
            />
            <kbd id="search-hint" hidden={search.length > 0} aria-label="Press slash to search">
              /
            </kbd>
          </div>
        </header>

        {tunnel.state === 'error' ? (
          <Alert
            tone="error"
            title="Could not connect"
            actions={
              <button type="button" className="btn btn-primary btn-small" onClick={() => void connect()}>
                Try again
              </button>
            }
          >
            {tunnel.error.message}
          </Alert>
        ) : tunnel.state === 'disconnected' && resources.length > 0 ? (
          <Alert
            tone="info"
            title="You are disconnected"
            actions={
              <button type="button" className="btn btn-primary btn-small" onClick={() => void connect()}>
                Connect
              </button>
            }
          >
            These are the resources from your last connection. Connect to reach them.
          </Alert>
        ) : null}

        {model.internet ? <InternetCard resource={model.internet} /> : null}

        {resources.length === 0 ? (
          <div className="empty">
            <Icon name="grid" size={32} />
            <h2>No resources yet</h2>
            <p className="muted">
              {tunnel.state === 'connected'
                ? 'Your administrator has not given you access to any resources yet.'
                : tunnel.state === 'connecting'
                  ? 'They appear as soon as the portal sends them.'
                  : 'Connect to see the resources you have access to.'}
            </p>
          </div>
        ) : model.groups.length === 0 ? (
          <div className="empty">
            <Icon name="search" size={32} />
            <h2>No matches</h2>
            <p className="muted">Nothing matches “{search.trim()}”. Try part of a name or an address.</p>
            <button type="button" className="btn" onClick={() => setSearch('')}>
              Clear search
            </button>
          </div>
        ) : (
          model.groups.map((g) => <Group key={g.key} group={g} favorites={favorites} terms={model.terms} />)
        )}
      </main>
      {selected ? <DiagnosticsPanel resource={selected} /> : null}
    </div>
  );
}
