import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  CONTENT_SECURITY_POLICY,
  isSafeExternalUrl,
  isTrustedAppUrl,
  resolveAppAsset,
} from './app-origin.js';

const root = '/opt/app/dist/renderer';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('app:// origin', () => {
  it.each([
    ['app://fz-desktop/', `${root}/index.html`],
    ['app://fz-desktop/index.html', `${root}/index.html`],
    ['app://fz-desktop/assets/index-abc.js', `${root}/assets/index-abc.js`],
    ['app://fz-desktop/assets/x.css?v=1#h', `${root}/assets/x.css`],
  ])('serves %s', (url, file) => {
    expect(resolveAppAsset(url, root)).toBe(file);
  });

  it.each([
    'app://other-host/index.html',
    'file:///etc/passwd',
    'app://fz-desktop/assets/..%2f..%2f..%2fsecret.js',
    'app://fz-desktop/assets/%5c..%5csecret.js',
    'app://fz-desktop/a%00.js',
    'app://fz-desktop/%E0%A4%A.js',
    'app://fz-desktop/settings.json',
    'app://fz-desktop/preload.cjs',
    'not a url',
  ])('refuses %s', (url) => {
    expect(resolveAppAsset(url, root)).toBeNull();
  });

  it.each([
    'app://fz-desktop/../../etc/passwd.js',
    'app://fz-desktop/%2e%2e/%2e%2e/etc/passwd.js',
    'app://fz-desktop/assets/%2E%2E/%2E%2E/%2E%2E/x.js',
  ])('never leaves the root for %s (the URL parser folds dot segments)', (url) => {
    const r = resolveAppAsset(url, root);
    expect(r === null || r.startsWith(`${root}/`)).toBe(true);
  });

  it('trusts only its own pages for IPC', () => {
    expect(isTrustedAppUrl('app://fz-desktop/index.html')).toBe(true);
    expect(isTrustedAppUrl('app://evil/index.html')).toBe(false);
    expect(isTrustedAppUrl('https://fz-desktop/')).toBe(false);
    expect(isTrustedAppUrl('')).toBe(false);
  });

  it('opens only web pages in the browser', () => {
    expect(isSafeExternalUrl('https://app.example.com/acme?x=1')).toBe(true);
    expect(isSafeExternalUrl('http://localhost:4000')).toBe(true);
    for (const u of [
      'file:///etc/passwd',
      'javascript:alert(1)',
      'smb://host/share',
      'fz-dev-fzdesktop-client://x',
    ]) {
      expect(isSafeExternalUrl(u)).toBe(false);
    }
  });

  it('the CSP forbids inline and remote content', () => {
    expect(CONTENT_SECURITY_POLICY).toContain("default-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-(inline|eval)|https?:|\*/);
  });

  it('index.html carries the same CSP as the app:// header', () => {
    const html = readFileSync(path.join(repo, 'src-renderer/index.html'), 'utf8');
    const meta = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1];
    expect(meta).toBe(CONTENT_SECURITY_POLICY);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });
});
