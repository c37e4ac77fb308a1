import { describe, expect, it } from 'vitest';
import { LinuxInterface } from './linux-interface.js';
import { isDefaultRoute, lanCopy, LinuxPolicyRouting } from './linux-policy-routing.js';

const MAIN4 = JSON.stringify([
  { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', flags: [] },
  { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '192.0.2.2', flags: [] },
  { dst: '10.200.0.0/16', dev: 'tun-fz', scope: 'link', flags: [] },
  { type: 'unreachable', dst: '198.51.100.0/24', scope: 'link', flags: [] },
  { dst: '203.0.113.0/24', gateway: '192.0.2.254', dev: 'eth0', flags: [] },
]);
const MAIN6 = JSON.stringify([
  { dst: 'fd00::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [], pref: 'medium' },
  { dst: 'fe80::/64', dev: 'eth0', protocol: 'kernel', metric: 256, flags: [], pref: 'medium' },
  { dst: 'default', gateway: 'fd00::1', dev: 'eth0', metric: 1024, flags: [], pref: 'medium' },
]);

/** A fake `ip`: records argv; `ip rule del` fails once nothing is left to delete, like the real one. */
function fakeIp(options: { leftoverRules?: number; main4?: string; main6?: string } = {}): {
  calls: string[];
  run: (args: string[]) => Promise<string>;
  /** The main table's routes that `ip -j route show` answers (change them to move the LAN). */
  main: { main4?: string; main6?: string };
} {
  const calls: string[] = [];
  const main = { ...options };
  let leftovers = options.leftoverRules ?? 0;
  const run = (args: string[]): Promise<string> => {
    const line = args.join(' ');
    calls.push(line);
    if (args[1] === 'rule' && args[2] === 'del') {
      if (leftovers > 0) {
        leftovers--;
        return Promise.resolve('');
      }
      return Promise.reject(new Error('RTNETLINK answers: No such file or directory'));
    }
    if (args[1] === 'route' && args[2] === 'flush')
      return Promise.reject(new Error('FIB table does not exist'));
    if (line === '-4 -j route show table main') return Promise.resolve(main.main4 ?? MAIN4);
    if (line === '-6 -j route show table main') return Promise.resolve(main.main6 ?? MAIN6);
    return Promise.resolve('');
  };
  return { calls, run, main };
}

/** What a fresh start runs before anything else: every rule and table of ours, both families. */
const START = ['-4', '-6'].flatMap((f) => [
  `${f} rule del priority 300 table 0x2021fd02`,
  `${f} rule del priority 200 table 0x2021fd01`,
  `${f} rule del priority 100 table 0x2021fd00`,
  `${f} route flush table 0x2021fd02`,
  `${f} route flush table 0x2021fd01`,
  `${f} route flush table 0x2021fd00`,
]);
const RESOURCE_RULES = ['-4', '-6'].flatMap((f) => [
  `${f} rule del priority 100 table 0x2021fd00`,
  `${f} rule add not fwmark 0xfd002021 table 0x2021fd00 priority 100`,
]);

describe('isDefaultRoute', () => {
  it('knows the default routes of both families', () => {
    for (const r of ['0.0.0.0/0', '::/0', '::0/0', 'default']) expect(isDefaultRoute(r)).toBe(true);
    for (const r of ['0.0.0.0/1', '10.0.0.0/8', '::/1', 'fd00::/64', '10.0.0.1'])
      expect(isDefaultRoute(r)).toBe(false);
  });
});

describe('lanCopy', () => {
  it('copies on-link unicast routes with their source and metric, and nothing else', () => {
    const routes4 = JSON.parse(MAIN4) as object[];
    expect(routes4.map((r) => lanCopy('-4', r, 'tun-fz')?.args.join(' '))).toEqual([
      undefined, // default
      '-4 route replace 192.0.2.0/24 dev eth0 table 0x2021fd01 scope link src 192.0.2.2',
      undefined, // the TUN's own
      undefined, // unreachable
      undefined, // via a gateway
    ]);
    const routes6 = JSON.parse(MAIN6) as object[];
    expect(routes6.map((r) => lanCopy('-6', r, 'tun-fz')?.args.join(' '))).toEqual([
      '-6 route replace fd00::/64 dev eth0 table 0x2021fd01 metric 256',
      '-6 route replace fe80::/64 dev eth0 table 0x2021fd01 metric 256',
      undefined,
    ]);
    expect(lanCopy('-6', { dst: 'ff00::/8', dev: 'eth0', metric: 256 }, 'tun-fz')).toBeUndefined();
    expect(lanCopy('-4', { dst: '10.1.0.0/16', dev: 'eth1', nexthops: [] }, 'tun-fz')).toBeUndefined();
  });
});

describe('LinuxPolicyRouting', () => {
  it('puts resource routes into table 0x2021fd00 behind a not-fwmark rule, and follows changes', async () => {
    const ip = fakeIp();
    const routing = new LinuxPolicyRouting('tun-fz', ip.run);
    await routing.apply(['10.200.0.0/16', 'fd00:2021::/64']);
    expect(ip.calls).toEqual([
      ...START,
      ...RESOURCE_RULES,
      '-4 route replace 10.200.0.0/16 dev tun-fz table 0x2021fd00',
      '-6 route replace fd00:2021::/64 dev tun-fz table 0x2021fd00',
    ]);
    ip.calls.length = 0;
    await routing.apply(['10.200.0.0/16', '10.201.0.0/16']);
    expect(ip.calls).toEqual([
      '-6 route del fd00:2021::/64 dev tun-fz table 0x2021fd00',
      '-4 route replace 10.201.0.0/16 dev tun-fz table 0x2021fd00',
    ]);
    ip.calls.length = 0;
    await routing.apply(['10.200.0.0/16', '10.201.0.0/16']);
    expect(ip.calls).toEqual([]);
  });

  it('applies many routes as one ip batch per family; a failed batch is redone one by one', async () => {
    const ip = fakeIp();
    const batches: string[] = [];
    let failNext = false;
    const batch = (family: '-4' | '-6', commands: string[][], force: boolean): Promise<void> => {
      batches.push(`${family}${force ? ' -force' : ''}: ${commands.map((c) => c.join(' ')).join('; ')}`);
      if (failNext && !force) {
        failNext = false;
        return Promise.reject(new Error('Command failed -:3'));
      }
      return Promise.resolve();
    };
    const routing = new LinuxPolicyRouting('tun-fz', ip.run, undefined, batch);
    const v4 = Array.from({ length: 10 }, (_, i) => `10.230.0.${i}/32`);
    await routing.apply([...v4, 'fd00:2021::/64']);
    // Eleven changes: one batch per family, no `ip` process per route.
    expect(batches).toEqual([
      `-4: ${v4.map((r) => `route replace ${r} dev tun-fz table 0x2021fd00`).join('; ')}`,
      '-6: route replace fd00:2021::/64 dev tun-fz table 0x2021fd00',
    ]);
    expect(ip.calls.filter((c) => c.includes('route replace'))).toEqual([]);
    batches.length = 0;
    // Removing them: deletes are batched with -force (a route already gone is no error).
    const more = Array.from({ length: 9 }, (_, i) => `10.231.0.${i}/32`);
    failNext = true;
    await routing.apply(more);
    expect(batches[0]).toMatch(/^-4 -force: route del 10\.230\.0\.0\/32/);
    // The replacement batch failed: each route is then applied alone, so an error names it.
    expect(ip.calls.filter((c) => c.includes('route replace'))).toEqual(
      more.map((r) => `-4 route replace ${r} dev tun-fz table 0x2021fd00`),
    );
  });

  it('with 0.0.0.0/0 and ::/0: LAN copies at priority 200, defaults at 300; without them: all gone', async () => {
    const ip = fakeIp();
    const routing = new LinuxPolicyRouting('tun-fz', ip.run);
    await routing.apply(['10.200.0.0/16', '0.0.0.0/0', '::/0']);
    expect(ip.calls).toEqual([
      ...START,
      ...RESOURCE_RULES,
      '-4 route replace 10.200.0.0/16 dev tun-fz table 0x2021fd00',
      '-4 -j route show table main',
      '-6 -j route show table main',
      '-4 route replace 192.0.2.0/24 dev eth0 table 0x2021fd01 scope link src 192.0.2.2',
      '-6 route replace fd00::/64 dev eth0 table 0x2021fd01 metric 256',
      '-6 route replace fe80::/64 dev eth0 table 0x2021fd01 metric 256',
      '-4 rule del priority 200 table 0x2021fd01',
      '-4 rule add not fwmark 0xfd002021 table 0x2021fd01 priority 200',
      '-4 route replace default dev tun-fz table 0x2021fd02',
      '-4 rule del priority 300 table 0x2021fd02',
      '-4 rule add not fwmark 0xfd002021 table 0x2021fd02 priority 300',
      '-6 rule del priority 200 table 0x2021fd01',
      '-6 rule add not fwmark 0xfd002021 table 0x2021fd01 priority 200',
      '-6 route replace default dev tun-fz table 0x2021fd02',
      '-6 rule del priority 300 table 0x2021fd02',
      '-6 rule add not fwmark 0xfd002021 table 0x2021fd02 priority 300',
    ]);

    // Again, with the LAN changed: only the copies follow.
    ip.calls.length = 0;
    ip.main.main4 = JSON.stringify([
      { dst: '192.168.7.0/24', dev: 'wlan0', scope: 'link', prefsrc: '192.168.7.20', flags: [] },
    ]);
    await routing.apply(['10.200.0.0/16', '0.0.0.0/0', '::/0']);
    expect(ip.calls).toEqual([
      '-4 -j route show table main',
      '-6 -j route show table main',
      '-4 route del 192.0.2.0/24 dev eth0 table 0x2021fd01',
      '-4 route replace 192.168.7.0/24 dev wlan0 table 0x2021fd01 scope link src 192.168.7.20',
    ]);

    // The Internet resource off: rules first, then the tables.
    ip.calls.length = 0;
    await routing.apply(['10.200.0.0/16']);
    expect(ip.calls).toEqual(
      ['-4', '-6'].flatMap((f) => [
        `${f} rule del priority 300 table 0x2021fd02`,
        `${f} route flush table 0x2021fd02`,
        `${f} rule del priority 200 table 0x2021fd01`,
        `${f} route flush table 0x2021fd01`,
      ]),
    );
  });

  it('handles one family of default route on its own', async () => {
    const ip = fakeIp();
    const routing = new LinuxPolicyRouting('tun-fz', ip.run);
    await routing.apply(['0.0.0.0/0']);
    const added = ip.calls.filter((c) => c.includes(' add ') || c.includes('replace'));
    expect(added).toEqual([
      '-4 rule add not fwmark 0xfd002021 table 0x2021fd00 priority 100',
      '-6 rule add not fwmark 0xfd002021 table 0x2021fd00 priority 100',
      '-4 route replace 192.0.2.0/24 dev eth0 table 0x2021fd01 scope link src 192.0.2.2',
      '-4 rule add not fwmark 0xfd002021 table 0x2021fd01 priority 200',
      '-4 route replace default dev tun-fz table 0x2021fd02',
      '-4 rule add not fwmark 0xfd002021 table 0x2021fd02 priority 300',
    ]);
    expect(ip.calls).not.toContain('-6 -j route show table main');
  });

  it('removes rules left by a run that crashed, however many, before adding its own', async () => {
    const ip = fakeIp({ leftoverRules: 3 });
    const routing = new LinuxPolicyRouting('tun-fz', ip.run);
    await routing.apply(['0.0.0.0/0', '::/0']);
    // The first rule deletion succeeded three times (three leftovers), then failed: next rule.
    expect(ip.calls.slice(0, 5)).toEqual([
      '-4 rule del priority 300 table 0x2021fd02',
      '-4 rule del priority 300 table 0x2021fd02',
      '-4 rule del priority 300 table 0x2021fd02',
      '-4 rule del priority 300 table 0x2021fd02',
      '-4 rule del priority 200 table 0x2021fd01',
    ]);
    expect(ip.calls.filter((c) => c.includes('rule add'))).toHaveLength(6);
  });

  it('cleanup() removes every rule and table, and apply() starts from scratch after it', async () => {
    const ip = fakeIp();
    const routing = new LinuxPolicyRouting('tun-fz', ip.run);
    await routing.apply(['10.200.0.0/16', '0.0.0.0/0', '::/0']);
    ip.calls.length = 0;
    await routing.cleanup();
    expect(ip.calls).toEqual(START);
    ip.calls.length = 0;
    await routing.apply(['10.200.0.0/16']);
    expect(ip.calls).toEqual([
      ...START,
      ...RESOURCE_RULES,
      '-4 route replace 10.200.0.0/16 dev tun-fz table 0x2021fd00',
    ]);
  });

  it('refreshLanRoutes() copies the LAN again only while a default route is in use', async () => {
    const ip = fakeIp();
    const routing = new LinuxPolicyRouting('tun-fz', ip.run);
    await routing.apply(['10.200.0.0/16']);
    ip.calls.length = 0;
    await routing.refreshLanRoutes();
    expect(ip.calls).toEqual([]);
    await routing.apply(['::/0']);
    ip.calls.length = 0;
    await routing.refreshLanRoutes();
    expect(ip.calls).toEqual(['-6 -j route show table main']);
  });

  it('uses another mark when given one', async () => {
    const ip = fakeIp();
    await new LinuxPolicyRouting('tun-fz', ip.run, 0x1234).apply([]);
    expect(ip.calls).toContain('-4 rule add not fwmark 0x1234 table 0x2021fd00 priority 100');
  });
});

describe('LinuxInterface', () => {
  it('brings the link up once, syncs addresses, and routes through policy routing', async () => {
    const ip = fakeIp();
    const iface = new LinuxInterface('tun-fz', ip.run);
    await iface.apply({
      addresses: ['100.64.0.2/32', 'fd00:2021:1111::2/128'],
      routes: ['10.200.0.0/16', '0.0.0.0/0', '::/0'],
      mtu: 1280,
    });
    expect(ip.calls.slice(0, 5)).toEqual([
      'link set dev tun-fz mtu 1280 txqueuelen 2000',
      'link set dev tun-fz addrgenmode none',
      'link set dev tun-fz up',
      '-4 addr replace 100.64.0.2/32 dev tun-fz',
      '-6 addr replace fd00:2021:1111::2/128 dev tun-fz nodad',
    ]);
    expect(ip.calls).toContain('-4 route replace default dev tun-fz table 0x2021fd02');
    expect(ip.calls).toContain('-6 route replace default dev tun-fz table 0x2021fd02');
    expect(ip.calls).not.toContain('-4 route replace 0.0.0.0/0 dev tun-fz');

    ip.calls.length = 0;
    await iface.apply({ addresses: ['100.64.0.3/32'], routes: ['10.200.0.0/16'], mtu: 1280 });
    expect(ip.calls).toEqual([
      '-4 addr del 100.64.0.2/32 dev tun-fz',
      '-6 addr del fd00:2021:1111::2/128 dev tun-fz',
      '-4 addr replace 100.64.0.3/32 dev tun-fz',
      ...['-4', '-6'].flatMap((f) => [
        `${f} rule del priority 300 table 0x2021fd02`,
        `${f} route flush table 0x2021fd02`,
        `${f} rule del priority 200 table 0x2021fd01`,
        `${f} route flush table 0x2021fd01`,
      ]),
    ]);

    ip.calls.length = 0;
    await iface.cleanup();
    expect(ip.calls).toEqual(START);
  });
});
