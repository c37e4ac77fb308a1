import { describe, expect, it } from 'vitest';
import type { Resource, TunnelState } from '../../src-shared/domain.js';
import { formatAgo, formatBytes, formatCountdown, formatDuration, formatRtt } from './format.js';
import { buildBrowserModel, highlight, matchesSearch, resourceStatus, searchTerms } from './resources.js';
import { displayTunnel, isSatisfied, presentTunnel } from './tunnel.js';

const site = (id: string, name: string, status: 'online' | 'offline' | 'unknown' = 'online') => ({
  id,
  name,
  status,
});
const res = (
  id: string,
  name: string,
  address: string,
  s = site('a', 'Alpha'),
  extra: Partial<Resource> = {},
): Resource =>
  ({
    id,
    type: 'dns',
    name,
    address,
    addressDescription: null,
    sites: [s],
    connection: { state: 'idle' },
    ...extra,
  }) as Resource;

const list: Resource[] = [
  res('1', 'GitLab', 'gitlab.corp'),
  res('2', 'Jira', 'jira.corp', site('b', 'Beta')),
  res('3', 'db 10', '10.0.0.10/32', site('b', 'Beta')),
  res('4', 'db 9', '10.0.0.9/32', site('b', 'Beta')),
  {
    id: 'i',
    type: 'internet',
    name: 'Internet Resource',
    canBeDisabled: true,
    sites: [site('x', 'Internet')],
    connection: { state: 'idle' },
  },
];
const connected: TunnelState = { state: 'connected', since: 0, ipv4: null, ipv6: null };

describe('resource browser model', () => {
  it('groups by site (sorted), natural order inside, internet apart', () => {
    const m = buildBrowserModel(list, [], '');
    expect(m.internet?.id).toBe('i');
    expect(m.groups.map((g) => [g.title, g.resources.map((r) => r.name)])).toEqual([
      ['Alpha', ['GitLab']],
      ['Beta', ['db 9', 'db 10', 'Jira']],
    ]);
    expect([m.total, m.matched, m.siteCount]).toEqual([4, 4, 2]);
  });

  it('favourites come first and leave their site group', () => {
    const m = buildBrowserModel(list, ['2', 'gone'], '');
    expect(m.groups.map((g) => g.title)).toEqual(['Favourites', 'Alpha', 'Beta']);
    expect(m.groups[0]!.resources.map((r) => r.id)).toEqual(['2']);
    expect(m.groups[2]!.resources.map((r) => r.id)).not.toContain('2');
  });

  it('search: every term must match name, address, description or site; counts per site', () => {
    expect(searchTerms('  Corp   JIRA ')).toEqual(['corp', 'jira']);
    expect(matchesSearch(list[1]!, ['beta', 'jira'])).toBe(true);
    expect(matchesSearch(list[1]!, ['alpha', 'jira'])).toBe(false);
    const m = buildBrowserModel(list, [], '10.0');
    expect(m.groups.map((g) => [g.title, g.resources.length, g.total])).toEqual([['Beta', 2, 3]]);
    expect(m.matched).toBe(2);
    expect(buildBrowserModel(list, [], 'nothing').groups).toEqual([]);
  });

  it('highlights every occurrence of every term', () => {
    expect(highlight('Prod api prod', ['prod'])).toEqual([
      { text: 'Prod', match: true },
      { text: ' api ', match: false },
      { text: 'prod', match: true },
    ]);
    expect(highlight('abc', [])).toEqual([{ text: 'abc', match: false }]);
    expect(highlight('abcd', ['bc', 'cd'])).toEqual([
      { text: 'a', match: false },
      { text: 'bcd', match: true },
    ]);
  });

  it('status labels', () => {
    expect(resourceStatus(list[0]!, { state: 'disconnected' })).toEqual({
      label: 'Not connected',
      tone: 'muted',
    });
    expect(resourceStatus(list[0]!, connected)).toEqual({ label: 'Available', tone: 'muted' });
    expect(resourceStatus(res('o', 'x', 'y', site('z', 'Z', 'offline')), connected).label).toBe(
      'Site offline',
    );
    const up = res('c', 'x', 'y', site('a', 'A'), {
      connection: {
        state: 'connected',
        diagnostics: {
          path: 'relayed',
          gatewayId: 'g',
          gatewayName: null,
          remoteAddress: '',
          relayAddress: '',
          rttMs: 1,
          txBytes: 0,
          rxBytes: 0,
          lastHandshakeAt: 0,
          establishedAt: 0,
        },
      },
    });
    expect(resourceStatus(up, connected)).toEqual({ label: 'Connected · relayed', tone: 'ok' });
  });
});

describe('optimistic tunnel display', () => {
  const pending = (kind: 'connect' | 'disconnect') => ({ kind, id: 1, since: 0 });
  it('shows the intended transition until main confirms', () => {
    expect(displayTunnel({ state: 'disconnected' }, pending('connect')).state).toBe('connecting');
    expect(
      displayTunnel({ state: 'error', error: { code: 'x', message: 'y' } }, pending('connect')).state,
    ).toBe('connecting');
    expect(displayTunnel(connected, pending('disconnect')).state).toBe('disconnecting');
    expect(displayTunnel(connected, pending('connect'))).toBe(connected);
    expect(displayTunnel({ state: 'disconnected' }, null).state).toBe('disconnected');
  });

  it('knows when an action needs no confirmation', () => {
    expect(isSatisfied('connect', connected)).toBe(true);
    expect(isSatisfied('connect', { state: 'disconnected' })).toBe(false);
    expect(isSatisfied('disconnect', { state: 'disconnected' })).toBe(true);
  });

  it('presents every state', () => {
    expect(presentTunnel({ state: 'disconnected' }, 0).action).toBe('connect');
    expect(
      presentTunnel({ state: 'connecting', phase: 'portal', attempt: 1, reason: null, retryAt: null }, 0)
        .detail,
    ).toBe('Contacting the portal…');
    expect(
      presentTunnel(
        { state: 'connecting', phase: 'portal', attempt: 3, reason: 'network changed', retryAt: 5000 },
        1000,
      ).detail,
    ).toBe('Connection lost (network changed). Attempt 3. Next try in 4 s.');
    expect(presentTunnel({ ...connected, ipv4: '100.64.0.1', ipv6: 'fd00::1' }, 0).detail).toBe(
      '100.64.0.1 · fd00::1',
    );
    expect(presentTunnel({ state: 'error', error: { code: 'x', message: 'boom' } }, 0)).toMatchObject({
      action: 'retry',
      detail: 'boom',
    });
    expect(presentTunnel({ state: 'disconnecting' }, 0).action).toBeNull();
  });
});

describe('formatting', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.00 KB'],
    [91_100, '91.1 KB'],
    [446_000, '446 KB'],
    [12_345_678, '12.3 MB'],
    [-1, '–'],
  ])('bytes %d → %s', (n, s) => expect(formatBytes(n)).toBe(s));

  it('times', () => {
    expect(formatRtt(null)).toBe('Measuring…');
    expect(formatRtt(4.25)).toBe('4.3 ms');
    expect(formatRtt(18.6)).toBe('19 ms');
    expect(formatAgo(null, 0)).toBe('Never');
    expect(formatAgo(0, 1000)).toBe('Just now');
    expect(formatAgo(0, 42_000)).toBe('42 s ago');
    expect(formatAgo(0, 3 * 60_000)).toBe('3 min ago');
    expect(formatAgo(0, 2 * 3_600_000)).toBe('2 h ago');
    expect(formatCountdown(600_000)).toBe('10:00');
    expect(formatCountdown(61_001)).toBe('1:02');
    expect(formatDuration(3_725_000)).toBe('1 h 2 min');
  });
});
