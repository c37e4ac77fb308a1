import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PortalStore } from './store.js';
import { removeDir, tempDir } from './test-support.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(removeDir));

function openStore(): { store: PortalStore; file: string } {
  const dir = tempDir();
  dirs.push(dir);
  const file = join(dir, 'data', 'portal.sqlite3');
  return { store: new PortalStore(file), file };
}

describe('PortalStore', () => {
  it('stores only the hash of client tokens and verifies them', () => {
    const { store, file } = openStore();
    const minted = store.createClientToken('actor-1', 'n0nce', 3600, 'test', 1_000_000);
    expect(minted.token).toBe(`n0nce${minted.fragment}`);
    store.close();
    const bytes = readFileSync(file);
    const wal = (() => {
      try {
        return readFileSync(`${file}-wal`);
      } catch {
        return Buffer.alloc(0);
      }
    })();
    const secret = minted.fragment.split('.')[2]!;
    expect(bytes.includes(secret) || wal.includes(secret)).toBe(false);
    const reopened = new PortalStore(file);
    expect(reopened.verifyClientToken(minted.token, 1_000_000)).toMatchObject({
      ok: true,
      token: { actorId: 'actor-1' },
    });
    expect(reopened.verifyClientToken(minted.fragment, 1_000_000)).toEqual({ ok: false, reason: 'mismatch' });
    expect(reopened.verifyClientToken(`x${minted.fragment}`, 1_000_000)).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(reopened.verifyClientToken('garbage', 1_000_000)).toEqual({ ok: false, reason: 'malformed' });
    expect(reopened.verifyClientToken(minted.token, 1_000_000 + 3_600_000)).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(reopened.revokeTokens({ actorId: 'actor-1' })).toEqual([minted.id]);
    expect(reopened.verifyClientToken(minted.token, 1_000_000)).toEqual({ ok: false, reason: 'revoked' });
    expect(reopened.invalidTokens([minted.id])).toEqual([minted.id]);
    reopened.close();
  });

  it('gives devices stable, unique addresses inside the tunnel ranges', () => {
    const { store } = openStore();
    const input = {
      kind: 'client' as const,
      ownerId: 'a',
      name: 'n',
      publicKey: 'k',
      userAgent: 'ua',
      newId: () => crypto.randomUUID(),
    };
    const first = store.upsertDevice({ ...input, externalId: 'dev-1' });
    const again = store.upsertDevice({ ...input, externalId: 'dev-1', name: 'renamed' });
    expect(again).toMatchObject({ id: first.id, ipv4: first.ipv4, ipv6: first.ipv6, name: 'renamed' });
    expect(Buffer.from(again.pskBase)).toEqual(Buffer.from(first.pskBase));
    const devices = Array.from({ length: 50 }, (_, i) =>
      store.upsertDevice({ ...input, externalId: `d${i}` }),
    );
    expect(new Set(devices.map((device) => device.ipv4)).size).toBe(50);
    for (const device of devices) {
      const [a, b] = device.ipv4.split('.').map(Number) as [number, number];
      expect(a).toBe(100);
      expect(b >= 64 && b <= 95).toBe(true);
      expect(device.ipv4).not.toBe('100.64.0.0');
      expect(device.ipv6.startsWith('fd00:2021:1111:')).toBe(true);
    }
    // The same external id under another owner is another device.
    expect(store.upsertDevice({ ...input, ownerId: 'b', externalId: 'dev-1' }).id).not.toBe(first.id);
    store.close();
  });

  it('persists grants and notices writes of other processes', () => {
    const { store, file } = openStore();
    const grant = {
      id: 'g',
      gatewayId: 'gw',
      clientId: 'c',
      resourceId: 'r',
      actorId: 'a',
      tokenId: 't',
      policyId: 'p',
      expiresAt: 99,
    };
    store.upsert(grant);
    const other = new PortalStore(file);
    expect([...other.all()]).toEqual([grant]);
    expect(store.changedElsewhere()).toBe(false);
    other.delete('gw', 'c', 'r');
    expect(store.changedElsewhere()).toBe(true);
    expect([...store.all()]).toEqual([]);
    other.close();
    store.close();
  });
});
