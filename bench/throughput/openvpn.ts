/**
 * OpenVPN ⇄ OpenVPN, exactly as measured in docs/performance.md §A1: point-to-point TLS mode,
 * AES-256-GCM, tun MTU 1500 with the default mssfix, no DCO (the kernel has no ovpn module).
 * A throwaway EC (P-256) CA and two leaf certificates (EKU serverAuth + clientAuth) are made with
 * openssl in a private temp dir, removed at teardown.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, type Netns, type NsProcess } from '../../e2e/system/netns.js';
import type { TunnelKind } from './kind.js';

const INNER_A = '10.97.0.1';
const INNER_B = '10.97.0.2';
const PORT = 1194;
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makePki(dir: string): Promise<void> {
  const openssl = (...args: string[]): Promise<unknown> => runCommand('openssl', args, { cwd: dir });
  await openssl(
    'req',
    '-x509',
    ...EC,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=fz-bench-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  writeFileSync(
    join(dir, 'leaf.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\n' +
      'extendedKeyUsage=serverAuth,clientAuth\n',
  );
  for (const leaf of ['server', 'client']) {
    await openssl(
      'req',
      '-new',
      ...EC,
      '-keyout',
      `${leaf}.key`,
      '-out',
      `${leaf}.csr`,
      '-subj',
      `/CN=${leaf}`,
    );
    await openssl(
      'x509',
      '-req',
      '-in',
      `${leaf}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'leaf.ext',
      '-out',
      `${leaf}.crt`,
    );
  }
}

function startOpenvpn(
  ns: Netns,
  dir: string,
  role: 'server' | 'client',
  local: string,
  remote: string,
  inner: string,
  peerInner: string,
): NsProcess {
  const common = ['--dev', 'tun', '--proto', 'udp', '--dh', 'none', '--ca', join(dir, 'ca.crt')];
  common.push('--data-ciphers', 'AES-256-GCM', '--cipher', 'AES-256-GCM', '--verb', '3');
  return ns.spawn(
    'openvpn',
    [
      ...common,
      `--tls-${role}`,
      '--cert',
      join(dir, `${role}.crt`),
      '--key',
      join(dir, `${role}.key`),
      '--local',
      local,
      '--lport',
      String(PORT),
      '--remote',
      remote,
      String(PORT),
      '--ifconfig',
      inner,
      peerInner,
      '--remote-cert-tls',
      role === 'server' ? 'client' : 'server',
    ],
    { label: `[${ns.name}] openvpn --tls-${role}` },
  );
}

export const openvpnKind: TunnelKind = {
  name: 'openvpn',
  label: 'OpenVPN ⇄ OpenVPN (AES-256-GCM)',
  requires: ['openvpn', 'openssl'],
  async setup({ harness, a, b, underlayA, underlayB }) {
    const dir = harness.tempDir('ovpn');
    await makePki(dir);
    const server = startOpenvpn(b, dir, 'server', underlayB, underlayA, INNER_B, INNER_A);
    const client = startOpenvpn(a, dir, 'client', underlayA, underlayB, INNER_A, INNER_B);
    const ready = /Initialization Sequence Completed/;
    await Promise.all([server.waitForOutput(ready, 30_000), client.waitForOutput(ready, 30_000)]);
    return {
      innerA: INNER_A,
      innerB: INNER_B,
      pids: [client.pid, server.pid],
      teardown: async () => {
        await Promise.all([client.stop(harness.graceMs), server.stop(harness.graceMs)]);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
