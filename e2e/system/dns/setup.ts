/**
 * The DNS additions to the connectivity topology, shared by the DNS scenarios and the demo: a
 * corporate dnsmasq on the site router's resource-network address (only the site, i.e. the
 * gateways, can reach it; it knows the resources' names), a public dnsmasq on the Internet side
 * as the client's system resolver, per-namespace resolv.conf files, and the portal's DNS
 * resources. Call `prepareDns` before `System.start`: the gateway reads its resolv.conf then.
 */
import type { ConnectivityTopology } from '../connectivity/topology.js';
import { RESOURCE_B_IP, RESOURCE_IP, type SystemOptions } from '../connectivity/system.js';
import { startDnsmasq } from './dnsmasq.js';

/** The site router's address on the resource network. */
export const CORP_DNS = '10.203.0.1';
/** A second address of the portal host, on the "internet". */
export const PUBLIC_DNS = '10.200.0.53';
/** What the public resolver answers for public.example.test (TEST-NET-2). */
export const PUBLIC_NAME_IP = '198.51.100.80';

export async function prepareDns(topo: ConnectivityTopology, gateways = 1): Promise<void> {
  await topo.host('portal').ip('addr', 'add', `${PUBLIC_DNS}/24`, 'dev', 'eth0');
  await startDnsmasq(topo.host('site-router'), CORP_DNS, [
    { name: 'wiki.corp.test', ipv4: RESOURCE_IP },
    { name: 'a.apps.corp.test', ipv4: RESOURCE_IP },
    { name: 'b.apps.corp.test', ipv4: RESOURCE_B_IP },
    { name: 'c.apps.corp.test', ipv4: RESOURCE_IP },
    { name: 'd.apps.corp.test', ipv4: RESOURCE_IP },
  ]);
  await startDnsmasq(topo.host('portal'), PUBLIC_DNS, [
    { name: 'public.example.test', ipv4: PUBLIC_NAME_IP },
  ]);
  for (let i = 1; i <= gateways; i++) topo.setResolvConf(topo.gateway(i), [CORP_DNS]);
  topo.setResolvConf('client', [PUBLIC_DNS]);
}

/** Portal and client settings for DNS resources: a name, a wildcard, no portal upstream. */
export function dnsSystemOptions(options: { readonly internet?: boolean } = {}): SystemOptions {
  return {
    resources: [
      '{ name: Wiki, type: dns, address: wiki.corp.test, site: HQ }',
      '{ name: Apps, type: dns, address: "*.apps.corp.test", site: HQ }',
      ...(options.internet ? ['{ name: Internet, type: internet, site: HQ }'] : []),
    ],
    policies: [
      '{ group: engineering, resource: Wiki }',
      '{ group: engineering, resource: Apps }',
      ...(options.internet ? ['{ group: engineering, resource: Internet }'] : []),
    ],
    upstreamDo53: [],
    clientDnsControl: 'resolv-conf',
  };
}

/** Waits until the client pointed its namespace's resolv.conf at its sentinel. */
export async function waitForDnsControl(topo: ConnectivityTopology, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!/nameserver 100\.100\.111\./.test((await topo.client.exec('cat', ['/etc/resolv.conf'])).stdout)) {
    if (Date.now() > deadline) throw new Error('the client never pointed resolv.conf at its sentinel');
    await new Promise((r) => setTimeout(r, 100));
  }
}
