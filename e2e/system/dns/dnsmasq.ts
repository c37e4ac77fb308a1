/**
 * dnsmasq (Debian's dnsmasq-base) as an authoritative test resolver in one host of the topology:
 * it answers only the records given, from no file and no upstream, and logs each query.
 */
import type { Host } from '../connectivity/host.js';
import type { NsProcess } from '../netns.js';

export interface DnsmasqRecord {
  /** Exact name, or `*.suffix` for the suffix and every name below it. */
  readonly name: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

const DNSMASQ = '/usr/sbin/dnsmasq';

export async function startDnsmasq(
  host: Host,
  listen: string,
  records: readonly DnsmasqRecord[],
): Promise<NsProcess> {
  const args = [
    '--keep-in-foreground',
    '--no-daemon',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--no-negcache',
    '--bind-interfaces',
    `--listen-address=${listen}`,
    '--port=53',
    '--user=root',
    '--pid-file=',
    '--log-queries',
    '--log-facility=-',
    // Authoritative for .test: unknown names get NXDOMAIN rather than REFUSED (no upstream).
    '--local=/test/',
  ];
  for (const record of records) {
    if (record.name.startsWith('*.')) {
      const suffix = record.name.slice(2);
      if (record.ipv4) args.push(`--address=/${suffix}/${record.ipv4}`);
      if (record.ipv6) args.push(`--address=/${suffix}/${record.ipv6}`);
    } else {
      args.push(`--host-record=${[record.name, record.ipv4, record.ipv6].filter(Boolean).join(',')}`);
    }
  }
  const proc = host.spawn(DNSMASQ, args, { label: `${host.name}: dnsmasq on ${listen}` });
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (/started, version/.test(proc.output)) return proc;
    if (!proc.running) throw new Error(`dnsmasq on ${host.name} exited:\n${proc.output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`dnsmasq on ${host.name} did not start:\n${proc.output}`);
}
