import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BACKUP_FILE,
  BACKUP_META_FILE,
  LinuxDnsControl,
  RESOLV_CONF_MARKER,
  createDnsControl,
  isSentinel,
  parseNameservers,
  type CommandRunner,
  type DnsConfig,
  type DnsControlOptions,
} from './dns-control.js';

const ORIGINAL = '# from DHCP\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch lan\n';
const CONFIG: DnsConfig = {
  interfaceName: 'tun-fz',
  servers: ['100.100.111.1', 'fd00:2021:1111:8000:100:100:111:0'],
  searchDomain: 'corp.example.com',
};

let root: string;
let etc: string;
let resolvConf: string;
let stateDir: string;
let runDir: string;
let resolvectl: string;
let logs: string[];

const logger = {
  info: (m: string) => logs.push(`info ${m}`),
  warn: (m: string) => logs.push(`warn ${m}`),
};

/** A control on the sandbox; resolved's run dir does not exist unless a test makes it. */
function control(options: DnsControlOptions = {}): LinuxDnsControl {
  return new LinuxDnsControl({
    resolvConfPath: resolvConf,
    stateDir,
    resolvedRunDir: runDir,
    resolvectlPaths: [resolvectl],
    logger,
    run: () => Promise.reject(new Error('no command expected')),
    ...options,
  });
}

function recordingRunner(fail: (args: readonly string[]) => string | null = () => null): {
  run: CommandRunner;
  calls: string[][];
} {
  const calls: string[][] = [];
  return {
    calls,
    run: async (file, args) => {
      calls.push([file, ...args]);
      const error = fail(args);
      if (error !== null) throw new Error(error);
    },
  };
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'fz-dns-'));
  etc = join(root, 'etc');
  mkdirSync(etc);
  resolvConf = join(etc, 'resolv.conf');
  stateDir = join(root, 'state');
  runDir = join(root, 'run', 'systemd', 'resolve');
  resolvectl = join(root, 'bin', 'resolvectl');
  mkdirSync(join(root, 'bin'));
  writeFileSync(resolvectl, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  logs = [];
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('resolv.conf method', () => {
  it('backs up the original, then writes the sentinels, search domain and edns0', async () => {
    writeFileSync(resolvConf, ORIGINAL, { mode: 0o644 });
    const dns = control({ method: 'resolv-conf' });
    expect(dns.method).toBe('resolv-conf');
    await dns.apply(CONFIG);

    const text = readFileSync(resolvConf, 'utf8');
    expect(text.startsWith(RESOLV_CONF_MARKER)).toBe(true);
    expect(text).toContain(join(stateDir, BACKUP_FILE));
    expect(text.split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      'nameserver 100.100.111.1',
      'nameserver fd00:2021:1111:8000:100:100:111:0',
      'search corp.example.com',
      'options edns0',
      '',
    ]);
    expect(statSync(resolvConf).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(stateDir, BACKUP_FILE), 'utf8')).toBe(ORIGINAL);
    expect(JSON.parse(readFileSync(join(stateDir, BACKUP_META_FILE), 'utf8'))).toEqual({
      version: 1,
      kind: 'file',
      mode: 0o644,
    });
    // No temporary files left next to resolv.conf or the backup.
    expect(readdirSync(etc)).toEqual(['resolv.conf']);
    expect(readdirSync(stateDir).sort()).toEqual([BACKUP_FILE, BACKUP_META_FILE]);
  });

  it('writes no search line without a search domain', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    await control({ method: 'resolv-conf' }).apply({ ...CONFIG, searchDomain: null });
    const text = readFileSync(resolvConf, 'utf8');
    expect(text).not.toMatch(/^search/m);
    expect(text).toMatch(/^options edns0$/m);
  });

  it('applying twice rewrites the file but keeps the original backup', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    const dns = control({ method: 'resolv-conf' });
    await dns.apply(CONFIG);
    await dns.apply({ ...CONFIG, servers: ['100.100.111.2'], searchDomain: 'other.example' });
    expect(parseNameservers(readFileSync(resolvConf, 'utf8'))).toEqual(['100.100.111.2']);
    expect(readFileSync(resolvConf, 'utf8')).toMatch(/^search other\.example$/m);
    expect(readFileSync(join(stateDir, BACKUP_FILE), 'utf8')).toBe(ORIGINAL);
  });

  it('restore puts the original bytes and mode back and removes the backup', async () => {
    const bytes = Buffer.from(ORIGINAL + '# ünïcode and no final newline', 'utf8');
    writeFileSync(resolvConf, bytes);
    chmodSync(resolvConf, 0o640);
    const dns = control({ method: 'resolv-conf' });
    await dns.apply(CONFIG);
    await dns.restore();
    expect(readFileSync(resolvConf).equals(bytes)).toBe(true);
    expect(statSync(resolvConf).mode & 0o777).toBe(0o640);
    expect(existsSync(join(stateDir, BACKUP_FILE))).toBe(false);
    expect(existsSync(join(stateDir, BACKUP_META_FILE))).toBe(false);
    // Nothing applied any more: a second restore changes nothing.
    await dns.restore();
    expect(readFileSync(resolvConf).equals(bytes)).toBe(true);
  });

  it('replaces a symlinked resolv.conf by a file and puts the same symlink back', async () => {
    const stubDir = join(root, 'run', 'systemd', 'resolve');
    mkdirSync(stubDir, { recursive: true });
    const stub = join(stubDir, 'stub-resolv.conf');
    writeFileSync(stub, 'nameserver 127.0.0.53\noptions edns0 trust-ad\n');
    symlinkSync('../run/systemd/resolve/stub-resolv.conf', resolvConf);

    const dns = control({ method: 'resolv-conf' });
    await dns.apply(CONFIG);
    expect(lstatSync(resolvConf).isSymbolicLink()).toBe(false);
    expect(parseNameservers(readFileSync(resolvConf, 'utf8'))).toEqual(CONFIG.servers);
    // The link was replaced, not written through.
    expect(readFileSync(stub, 'utf8')).toBe('nameserver 127.0.0.53\noptions edns0 trust-ad\n');
    expect(JSON.parse(readFileSync(join(stateDir, BACKUP_META_FILE), 'utf8'))).toEqual({
      version: 1,
      kind: 'symlink',
      target: '../run/systemd/resolve/stub-resolv.conf',
    });

    await dns.restore();
    expect(lstatSync(resolvConf).isSymbolicLink()).toBe(true);
    expect(readlinkSync(resolvConf)).toBe('../run/systemd/resolve/stub-resolv.conf');
    expect(existsSync(join(stateDir, BACKUP_FILE))).toBe(false);
  });

  it('backs up a dangling symlink as the link alone', async () => {
    symlinkSync('/nonexistent/stub-resolv.conf', resolvConf);
    const dns = control({ method: 'resolv-conf' });
    await dns.apply(CONFIG);
    await dns.restore();
    expect(readlinkSync(resolvConf)).toBe('/nonexistent/stub-resolv.conf');
  });

  it('removes its file on restore when there was no resolv.conf', async () => {
    const dns = control({ method: 'resolv-conf' });
    await dns.apply(CONFIG);
    expect(parseNameservers(readFileSync(resolvConf, 'utf8'))).toEqual(CONFIG.servers);
    await dns.restore();
    expect(existsSync(resolvConf)).toBe(false);
    expect(existsSync(join(stateDir, BACKUP_FILE))).toBe(false);
  });

  it('recover() in the next run restores what a crashed run left applied', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    await control({ method: 'resolv-conf' }).apply(CONFIG);
    // The process dies here: no restore(). The next start:
    const next = control();
    expect(next.method).toBe('resolv-conf');
    await next.recover();
    expect(readFileSync(resolvConf, 'utf8')).toBe(ORIGINAL);
    expect(existsSync(join(stateDir, BACKUP_FILE))).toBe(false);
    expect(logs.some((l) => l.startsWith('warn') && l.includes('not restored by the previous run'))).toBe(
      true,
    );
    // Then it applies afresh, with a backup of the real original.
    await next.apply(CONFIG);
    expect(readFileSync(join(stateDir, BACKUP_FILE), 'utf8')).toBe(ORIGINAL);
  });

  it('recover() without a backup leaves resolv.conf alone', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    await control().recover();
    expect(readFileSync(resolvConf, 'utf8')).toBe(ORIGINAL);
    expect(logs).toEqual([]);
  });

  it('never backs up its own file when the backup went missing', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    const dns = control({ method: 'resolv-conf' });
    await dns.apply(CONFIG);
    rmSync(stateDir, { recursive: true });
    await dns.apply({ ...CONFIG, servers: ['100.100.111.3'] });
    expect(existsSync(join(stateDir, BACKUP_FILE))).toBe(false);
    expect(parseNameservers(readFileSync(resolvConf, 'utf8'))).toEqual(['100.100.111.3']);
    expect(logs.some((l) => l.startsWith('warn') && l.includes('original configuration is lost'))).toBe(true);
  });

  it('fails clearly when the state dir cannot be written, leaving resolv.conf alone', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    // A file where a directory should be: fails even for root (these tests may run as root).
    const blocker = join(root, 'blocker');
    writeFileSync(blocker, '');
    stateDir = join(blocker, 'state');
    const dns = control({ method: 'resolv-conf' });
    await expect(dns.apply(CONFIG)).rejects.toThrow(
      new RegExp(`^cannot back up ${resolvConf} to ${join(stateDir, BACKUP_FILE)}: ENOTDIR`),
    );
    expect(readFileSync(resolvConf, 'utf8')).toBe(ORIGINAL);
  });

  it('fails clearly when resolv.conf cannot be written', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    const dns = control({ method: 'resolv-conf', resolvConfPath: join(root, 'missing-dir', 'resolv.conf') });
    await expect(dns.apply(CONFIG)).rejects.toThrow(/^cannot write .*missing-dir\/resolv\.conf: ENOENT/);
  });

  it('rejects what would inject lines or options', async () => {
    const dns = control({ method: 'resolv-conf' });
    await expect(dns.apply({ ...CONFIG, servers: ['100.100.111.1\nnameserver 6.6.6.6'] })).rejects.toThrow(
      /not a DNS server address/,
    );
    await expect(dns.apply({ ...CONFIG, servers: [] })).rejects.toThrow(/no DNS servers/);
    await expect(dns.apply({ ...CONFIG, searchDomain: 'a.example\noptions rotate' })).rejects.toThrow(
      /not a search domain/,
    );
    await expect(dns.apply({ ...CONFIG, searchDomain: '-x' })).rejects.toThrow(/not a search domain/);
    await expect(dns.apply({ ...CONFIG, interfaceName: '--help' })).rejects.toThrow(/not an interface name/);
    expect(existsSync(resolvConf)).toBe(false);
  });

  it('serialises an apply and a restore issued together', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    const dns = control({ method: 'resolv-conf' });
    await Promise.all([dns.apply(CONFIG), dns.restore()]);
    expect(readFileSync(resolvConf, 'utf8')).toBe(ORIGINAL);
    expect(existsSync(join(stateDir, BACKUP_FILE))).toBe(false);
  });
});

describe('systemUpstreams', () => {
  it('reads the live resolv.conf when nothing is applied', () => {
    writeFileSync(resolvConf, ORIGINAL);
    expect(control().systemUpstreams()).toEqual(['192.0.2.53', '2001:db8::53']);
  });

  it('reads the backup while applied', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    const dns = control({ method: 'resolv-conf' });
    await dns.apply(CONFIG);
    expect(dns.systemUpstreams()).toEqual(['192.0.2.53', '2001:db8::53']);
    await dns.restore();
    expect(dns.systemUpstreams()).toEqual(['192.0.2.53', '2001:db8::53']);
  });

  it("follows systemd-resolved's stub to its list of upstreams", () => {
    writeFileSync(resolvConf, 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n');
    mkdirSync(runDir, { recursive: true });
    writeFileSync(
      join(runDir, 'resolv.conf'),
      // With resolved configured, our own link's servers show up here too.
      'nameserver 10.0.0.1\nnameserver 100.100.111.1\nnameserver fe80::1%eth0\n',
    );
    expect(control().systemUpstreams()).toEqual(['10.0.0.1', 'fe80::1%eth0']);
  });

  it('follows the stub from a backup of a symlinked resolv.conf', async () => {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(join(runDir, 'stub-resolv.conf'), 'nameserver 127.0.0.53\n');
    writeFileSync(join(runDir, 'resolv.conf'), 'nameserver 198.51.100.1\n');
    symlinkSync(join(runDir, 'stub-resolv.conf'), resolvConf);
    const dns = control({ method: 'resolv-conf' });
    await dns.apply(CONFIG);
    expect(dns.systemUpstreams()).toEqual(['198.51.100.1']);
  });

  it("returns none (with a warning) for the stub without resolved's upstream file", () => {
    writeFileSync(resolvConf, 'nameserver 127.0.0.53\n');
    expect(control().systemUpstreams()).toEqual([]);
    expect(logs.some((l) => l.startsWith('warn') && l.includes('stub'))).toBe(true);
  });

  it('drops sentinels and duplicates, keeps order and zones, skips junk', () => {
    writeFileSync(
      resolvConf,
      [
        '; comment',
        'nameserver 100.100.111.1',
        'nameserver 9.9.9.9',
        '  nameserver   1.1.1.1   # trailing comment',
        'nameserver fd00:2021:1111:8000:100:100:111:0',
        'nameserver fd00:2021:1111:8000:100:100:111:ff',
        'nameserver ::ffff:100.100.111.7',
        'nameserver 9.9.9.9',
        'nameserver fe80::1%wlan0',
        'nameserver not-an-address',
        'nameserver',
        '#nameserver 8.8.8.8',
        'nameserver 100.100.112.1',
        'nameserver fd00:2021:1111:8000:100:100:112:0',
        '',
      ].join('\n'),
    );
    expect(control().systemUpstreams()).toEqual([
      '9.9.9.9',
      '1.1.1.1',
      'fe80::1%wlan0',
      '100.100.112.1',
      'fd00:2021:1111:8000:100:100:112:0',
    ]);
  });

  it('is empty without any resolv.conf', () => {
    expect(control().systemUpstreams()).toEqual([]);
  });

  it('recognises sentinel addresses', () => {
    expect(isSentinel('100.100.111.0')).toBe(true);
    expect(isSentinel('100.100.111.255')).toBe(true);
    expect(isSentinel('100.100.110.255')).toBe(false);
    expect(isSentinel('fd00:2021:1111:8000:100:100:111:1')).toBe(true);
    expect(isSentinel('fd00:2021:1111:8000:100:100:111:100')).toBe(false);
    expect(isSentinel('fe80::1%eth0')).toBe(false);
  });
});

describe('systemd-resolved method', () => {
  it('configures the link by resolvectl at its absolute path, and reverts it', async () => {
    writeFileSync(resolvConf, 'nameserver 127.0.0.53\n');
    const { run, calls } = recordingRunner();
    const dns = control({ method: 'systemd-resolved', run });
    expect(dns.method).toBe('systemd-resolved');
    await dns.apply(CONFIG);
    expect(calls).toEqual([
      [resolvectl, 'dns', 'tun-fz', '100.100.111.1', 'fd00:2021:1111:8000:100:100:111:0'],
      [resolvectl, 'domain', 'tun-fz', 'corp.example.com', '~.'],
      [resolvectl, 'default-route', 'tun-fz', 'true'],
      [resolvectl, 'llmnr', 'tun-fz', 'false'],
      [resolvectl, 'dnssec', 'tun-fz', 'false'],
    ]);
    // Nothing on disk: resolved keeps the settings with the link.
    expect(readFileSync(resolvConf, 'utf8')).toBe('nameserver 127.0.0.53\n');
    expect(existsSync(stateDir)).toBe(false);
    expect(logs.filter((l) => l.startsWith('warn'))).toEqual([]);

    calls.length = 0;
    await dns.restore();
    expect(calls).toEqual([[resolvectl, 'revert', 'tun-fz']]);
    calls.length = 0;
    await dns.restore();
    expect(calls).toEqual([]);
  });

  it('routes all names with ~. alone when there is no search domain', async () => {
    const { run, calls } = recordingRunner();
    await control({ method: 'systemd-resolved', run }).apply({ ...CONFIG, searchDomain: null });
    expect(calls[1]).toEqual([resolvectl, 'domain', 'tun-fz', '~.']);
  });

  it('reverts the old link when the interface changes', async () => {
    const { run, calls } = recordingRunner();
    const dns = control({ method: 'systemd-resolved', run });
    await dns.apply(CONFIG);
    calls.length = 0;
    await dns.apply({ ...CONFIG, interfaceName: 'tun1' });
    expect(calls[0]).toEqual([resolvectl, 'revert', 'tun-fz']);
    expect(calls[1]).toEqual([resolvectl, 'dns', 'tun1', ...CONFIG.servers]);
  });

  it('tolerates an old systemd without default-route, but not a failing dns command', async () => {
    const old = recordingRunner((args) => (args[0] === 'default-route' ? 'Unknown command verb' : null));
    await control({ method: 'systemd-resolved', run: old.run }).apply(CONFIG);
    expect(old.calls).toHaveLength(5);
    expect(logs.some((l) => l.startsWith('warn') && l.includes('default-route'))).toBe(true);

    const broken = recordingRunner((args) => (args[0] === 'dns' ? 'Failed to set DNS: Access denied' : null));
    await expect(control({ method: 'systemd-resolved', run: broken.run }).apply(CONFIG)).rejects.toThrow(
      'resolvectl dns tun-fz 100.100.111.1 fd00:2021:1111:8000:100:100:111:0 failed: Failed to set DNS: Access denied',
    );
  });

  it('only warns when revert fails (the link and its settings are already gone)', async () => {
    const { run } = recordingRunner((args) => (args[0] === 'revert' ? 'Failed to resolve interface' : null));
    const dns = control({ method: 'systemd-resolved', run });
    await dns.apply(CONFIG);
    await dns.restore();
    expect(logs.some((l) => l.startsWith('warn') && l.includes('revert'))).toBe(true);
  });

  it('warns when resolv.conf bypasses resolved', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    const { run } = recordingRunner();
    await control({ method: 'systemd-resolved', run }).apply(CONFIG);
    expect(logs.some((l) => l.startsWith('warn') && l.includes('bypass'))).toBe(true);
  });

  it('recover() also restores a backup a resolv-conf run left behind', async () => {
    writeFileSync(resolvConf, ORIGINAL);
    await control({ method: 'resolv-conf' }).apply(CONFIG);
    mkdirSync(runDir, { recursive: true });
    const { run, calls } = recordingRunner();
    const dns = control({ run });
    expect(dns.method).toBe('systemd-resolved');
    await dns.recover();
    expect(readFileSync(resolvConf, 'utf8')).toBe(ORIGINAL);
    expect(calls).toEqual([]);
  });
});

describe('method selection', () => {
  it('auto picks systemd-resolved only when its run dir exists and resolvectl is found', () => {
    expect(control().method).toBe('resolv-conf');
    mkdirSync(runDir, { recursive: true });
    expect(control().method).toBe('systemd-resolved');
    expect(control({ resolvectlPaths: [join(root, 'bin', 'nope'), resolvectl] }).method).toBe(
      'systemd-resolved',
    );
    expect(control({ resolvectlPaths: [join(root, 'bin', 'nope')] }).method).toBe('resolv-conf');
    // A run dir path that is a file is no running resolved.
    rmSync(runDir, { recursive: true });
    writeFileSync(runDir, '');
    expect(control().method).toBe('resolv-conf');
  });

  it('honours a forced method', () => {
    mkdirSync(runDir, { recursive: true });
    expect(control({ method: 'resolv-conf' }).method).toBe('resolv-conf');
    rmSync(runDir, { recursive: true });
    expect(control({ method: 'systemd-resolved' }).method).toBe('systemd-resolved');
    expect(() => control({ method: 'systemd-resolved', resolvectlPaths: [join(root, 'nope')] })).toThrow(
      /resolvectl not found/,
    );
  });

  it('skips a resolvectl that is not executable', () => {
    mkdirSync(runDir, { recursive: true });
    chmodSync(resolvectl, 0o644);
    // root passes X_OK checks only when some execute bit is set, like everyone else.
    expect(control().method).toBe('resolv-conf');
  });

  it('the factory builds the Linux control and refuses other platforms', () => {
    const dns = createDnsControl({
      resolvConfPath: resolvConf,
      stateDir,
      resolvedRunDir: runDir,
      platform: 'linux',
    });
    expect(dns).toBeInstanceOf(LinuxDnsControl);
    expect(() => createDnsControl({ platform: 'darwin' })).toThrow(/not implemented on darwin/);
  });
});
