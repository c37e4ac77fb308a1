import { describe, expect, it } from 'vitest';
import { isPlaceholderFeed, parseBuiltInFeed, resolveFeedUrl } from './updater.js';

describe('update feed', () => {
  it('settings (or managed config) win over the built-in feed', () => {
    expect(resolveFeedUrl('https://corp.example.net/fz', 'https://updates.fzdesktop.dev/latest')).toBe(
      'https://corp.example.net/fz',
    );
    expect(resolveFeedUrl('', 'https://updates.fzdesktop.dev/latest')).toBe(
      'https://updates.fzdesktop.dev/latest',
    );
    expect(resolveFeedUrl(null, null)).toBeNull();
  });

  it('a placeholder or insecure built-in feed means no updates', () => {
    expect(resolveFeedUrl(null, 'https://updates.example.invalid/fz-desktop/latest')).toBeNull();
    expect(resolveFeedUrl(null, 'http://updates.fzdesktop.dev/latest')).toBeNull();
    expect(isPlaceholderFeed('https://example.com/x')).toBe(true);
    expect(isPlaceholderFeed('https://updates.fzdesktop.dev/x')).toBe(false);
    expect(isPlaceholderFeed('nonsense')).toBe(true);
  });

  it('reads the url from app-update.yml', () => {
    const yml =
      'provider: generic\nurl: https://updates.example.invalid/fz-desktop/latest\nupdaterCacheDirName: fz-desktop-updater\n';
    expect(parseBuiltInFeed(yml)).toBe('https://updates.example.invalid/fz-desktop/latest');
    expect(parseBuiltInFeed("url: 'https://a.dev/x'\n")).toBe('https://a.dev/x');
    expect(parseBuiltInFeed('provider: github\n')).toBeNull();
  });
});
