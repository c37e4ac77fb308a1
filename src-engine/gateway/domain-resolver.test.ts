import { describe, expect, it } from 'vitest';
import { createDomainResolver, systemLookup } from './domain-resolver.js';

describe('createDomainResolver', () => {
  it('resolves both families at the same time and keeps a failed family empty', async () => {
    const started: string[] = [];
    const resolve = createDomainResolver({
      lookup: async (domain, family) => {
        started.push(`${domain}/${family}`);
        if (family === 6) throw new Error('SERVFAIL');
        return ['10.0.0.1', '10.0.0.2'];
      },
    });
    await expect(resolve('wiki.corp.test')).resolves.toEqual({ ipv4: ['10.0.0.1', '10.0.0.2'], ipv6: [] });
    expect(started.sort()).toEqual(['wiki.corp.test/4', 'wiki.corp.test/6']);
  });

  it('fails (null) only when the overall timeout passes', async () => {
    const resolve = createDomainResolver({
      timeoutMs: 20,
      lookup: (_domain, family) =>
        family === 4 ? Promise.resolve(['10.0.0.1']) : new Promise<readonly string[]>(() => undefined),
    });
    await expect(resolve('slow.corp.test')).resolves.toBeNull();
  });

  it('refuses more than maxConcurrent lookups in flight', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const resolve = createDomainResolver({
      maxConcurrent: 1,
      lookup: async () => {
        await gate;
        return ['10.0.0.1'];
      },
    });
    const first = resolve('a.corp.test');
    await expect(resolve('b.corp.test')).resolves.toBeNull();
    release();
    await expect(first).resolves.toEqual({ ipv4: ['10.0.0.1'], ipv6: ['10.0.0.1'] });
  });

  it('reads /etc/hosts through the system resolver (localhost)', async () => {
    await expect(systemLookup('localhost', 4)).resolves.toContain('127.0.0.1');
    await expect(systemLookup('name.invalid', 4)).resolves.toEqual([]);
  });
});
