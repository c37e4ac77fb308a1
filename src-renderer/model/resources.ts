// The resource browser's model: search, grouping by site, favourites first, status labels.
// Pure functions of the replica, so they are unit-tested without a DOM.

import type { InternetResource, Resource, Site, TunnelState } from '../../src-shared/domain.js';

export interface ResourceGroup {
  readonly key: string;
  readonly kind: 'favorites' | 'site';
  readonly title: string;
  readonly site: Site | null;
  readonly resources: readonly Resource[];
  /** Resources of this site before the search filter (for "3 of 20"). */
  readonly total: number;
}

export interface BrowserModel {
  readonly internet: InternetResource | null;
  readonly groups: readonly ResourceGroup[];
  readonly total: number;
  readonly matched: number;
  readonly siteCount: number;
  readonly terms: readonly string[];
}

export function searchTerms(query: string): string[] {
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter((t) => t.length > 0)
    .slice(0, 8);
}

function haystack(r: Resource): string {
  const site = r.sites.map((s) => s.name).join(' ');
  if (r.type === 'internet') return `${r.name} internet ${site}`.toLowerCase();
  return `${r.name} ${r.address} ${r.addressDescription ?? ''} ${site} ${r.type}`.toLowerCase();
}

/** Every term must occur in the name, address, description or site name. */
export function matchesSearch(r: Resource, terms: readonly string[]): boolean {
  if (terms.length === 0) return true;
  const h = haystack(r);
  return terms.every((t) => h.includes(t));
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
const byName = (a: Resource, b: Resource) => collator.compare(a.name, b.name);

export function buildBrowserModel(
  resources: readonly Resource[],
  favoriteIds: readonly string[],
  query: string,
): BrowserModel {
  const terms = searchTerms(query);
  const favorites = new Set(favoriteIds);
  let internet: InternetResource | null = null;
  const favs: Resource[] = [];
  const sites = new Map<string, { site: Site | null; all: number; resources: Resource[] }>();
  let total = 0;
  let matched = 0;
  for (const r of resources) {
    if (r.type === 'internet') {
      internet = r;
      continue;
    }
    total += 1;
    const site = r.sites[0] ?? null;
    const key = site?.id ?? '';
    const entry = sites.get(key) ?? { site, all: 0, resources: [] };
    entry.all += 1;
    sites.set(key, entry);
    if (!matchesSearch(r, terms)) continue;
    matched += 1;
    if (favorites.has(r.id)) favs.push(r);
    else entry.resources.push(r);
  }
  const groups: ResourceGroup[] = [];
  if (favs.length) {
    groups.push({
      key: 'favorites',
      kind: 'favorites',
      title: 'Favourites',
      site: null,
      resources: favs.sort(byName),
      total: favs.length,
    });
  }
  const siteGroups = [...sites.entries()]
    .filter(([, g]) => g.resources.length > 0)
    .sort(([, a], [, b]) => collator.compare(a.site?.name ?? '', b.site?.name ?? ''))
    .map(([key, g]): ResourceGroup => ({
      key: `site-${key}`,
      kind: 'site',
      title: g.site?.name ?? 'No site',
      site: g.site,
      resources: g.resources.sort(byName),
      total: g.all,
    }));
  groups.push(...siteGroups);
  return { internet, groups, total, matched, siteCount: sites.size, terms };
}

export interface Segment {
  readonly text: string;
  readonly match: boolean;
}

/** Splits text into matched and unmatched parts for <mark>ing the search terms. */
export function highlight(text: string, terms: readonly string[]): Segment[] {
  if (!terms.length || !text) return [{ text, match: false }];
  const lower = text.toLowerCase();
  const marks = new Array<boolean>(text.length).fill(false);
  for (const t of terms) {
    let i = lower.indexOf(t);
    while (i >= 0) {
      marks.fill(true, i, i + t.length);
      i = lower.indexOf(t, i + t.length);
    }
  }
  const out: Segment[] = [];
  let start = 0;
  for (let i = 1; i <= text.length; i++) {
    if (i === text.length || marks[i] !== marks[start]) {
      out.push({ text: text.slice(start, i), match: marks[start]! });
      start = i;
    }
  }
  return out;
}

export type StatusTone = 'ok' | 'busy' | 'warn' | 'error' | 'muted';

export interface ResourceStatus {
  readonly label: string;
  readonly tone: StatusTone;
}

export function resourceStatus(r: Resource, tunnel: TunnelState): ResourceStatus {
  const c = r.connection;
  switch (c.state) {
    case 'connected':
      return {
        label: c.diagnostics.path === 'direct' ? 'Connected · direct' : 'Connected · relayed',
        tone: 'ok',
      };
    case 'connecting':
      return { label: 'Connecting…', tone: 'busy' };
    case 'failed':
      return { label: 'Unreachable', tone: 'error' };
    case 'idle':
      break;
  }
  if (tunnel.state !== 'connected') return { label: 'Not connected', tone: 'muted' };
  switch (r.sites[0]?.status) {
    case 'offline':
      return { label: 'Site offline', tone: 'warn' };
    case 'online':
      return { label: 'Available', tone: 'muted' };
    default:
      return { label: 'Status unknown', tone: 'muted' };
  }
}

export function siteStatusLabel(site: Site | null): ResourceStatus {
  switch (site?.status) {
    case 'online':
      return { label: 'Online', tone: 'ok' };
    case 'offline':
      return { label: 'Offline', tone: 'warn' };
    default:
      return { label: 'Unknown', tone: 'muted' };
  }
}
