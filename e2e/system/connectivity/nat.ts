/**
 * nftables rulesets for the topology's routers (NAT and stateful inbound filtering) and for link
 * impairment (random loss). Pure functions returning `nft -f` input; the tables live inside the
 * routers' namespaces, so deleting a namespace removes them.
 *
 * NAT types (per router and per address family):
 * - `none`: plain routing. Everything is forwarded both ways and the router accepts everything.
 * - `cone`: `masquerade`. Linux keeps the source port whenever the resulting tuple is free, so one
 *   socket is seen with the same address and port by every destination (endpoint-independent
 *   mapping), which is what hole punching needs. Filtering is stateful and address-and-port
 *   dependent: only packets matching a conntrack entry created from inside pass (RFC 4787
 *   "port-restricted cone").
 * - `symmetric`: `masquerade fully-random`. Every new flow (5-tuple) gets a random port, so each
 *   destination sees the socket on a different port (address-and-port-dependent mapping); the
 *   same stateful filtering.
 */
import { isIP } from 'node:net';

export type NatType = 'none' | 'cone' | 'symmetric';

export const NAT_TYPES: readonly NatType[] = ['none', 'cone', 'symmetric'];

/** The table every router ruleset lives in (family inet: IPv4 and IPv6 in one). */
export const ROUTER_TABLE = 'fz_router';
/** Named counter of packets the router dropped on its WAN side (inbound, unsolicited). */
export const INBOUND_DROP_COUNTER = 'inbound_dropped';

export interface RouterLan {
  ifname: string;
  /** Subnet (CIDR) of the LAN, masqueraded when leaving through the WAN. */
  ipv4: string;
  ipv6?: string;
  /**
   * A private segment never forwarded to or from the WAN, whatever the NAT type (the site's
   * resources). Its traffic may only go to the LANs listed in `talksTo`.
   */
  isolated?: boolean;
  /** Other LAN interfaces this one may exchange traffic with (both directions). */
  talksTo?: string[];
}

export interface RouterSpec {
  wan: string;
  lans: RouterLan[];
  nat4: NatType;
  nat6: NatType;
}

const IFNAME = /^[\w.-]{1,15}$/;

function q(ifname: string): string {
  if (!IFNAME.test(ifname)) throw new Error(`invalid interface name: ${ifname}`);
  return `"${ifname}"`;
}

function cidr(value: string, family: 4 | 6): string {
  const [ip, len, ...rest] = value.split('/');
  if (rest.length > 0 || len === undefined || !/^\d{1,3}$/.test(len) || isIP(ip ?? '') !== family) {
    throw new Error(`not an IPv${family} prefix: ${value}`);
  }
  return value;
}

export function assertNatType(value: string): asserts value is NatType {
  if (!(NAT_TYPES as readonly string[]).includes(value)) {
    throw new Error(`unknown NAT type ${value} (one of ${NAT_TYPES.join(', ')})`);
  }
}

/**
 * The router's whole ruleset, replacing any earlier one atomically (one `nft -f` transaction:
 * create-if-missing, delete, create).
 */
export function routerRuleset(spec: RouterSpec): string {
  assertNatType(spec.nat4);
  assertNatType(spec.nat6);
  const wan = q(spec.wan);
  const open: string[] = [];
  if (spec.nat4 === 'none') open.push('ipv4');
  if (spec.nat6 === 'none') open.push('ipv6');

  const input = [
    'type filter hook input priority filter; policy accept;',
    `iifname != ${wan} accept`,
    'ct state established,related accept',
    // Neighbour discovery is not tracked: without it nothing on the WAN could reach the router.
    'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept',
    ...open.map((family) => `meta nfproto ${family} accept`),
    `counter name "${INBOUND_DROP_COUNTER}" drop`,
  ];

  const forward = [
    'type filter hook forward priority filter; policy drop;',
    'ct state established,related accept',
  ];
  for (const lan of spec.lans) {
    const name = q(lan.ifname);
    for (const other of lan.talksTo ?? []) forward.push(`iifname ${name} oifname ${q(other)} accept`);
    if (lan.isolated) continue;
    forward.push(`iifname ${name} oifname ${wan} accept`);
    for (const family of open) forward.push(`iifname ${wan} oifname ${name} meta nfproto ${family} accept`);
  }
  forward.push(`iifname ${wan} counter name "${INBOUND_DROP_COUNTER}" drop`);

  const postrouting = ['type nat hook postrouting priority srcnat; policy accept;'];
  const masq = (nat: NatType): string => (nat === 'symmetric' ? 'masquerade fully-random' : 'masquerade');
  for (const lan of spec.lans) {
    if (lan.isolated) continue;
    if (spec.nat4 !== 'none')
      postrouting.push(`oifname ${wan} ip saddr ${cidr(lan.ipv4, 4)} ${masq(spec.nat4)}`);
    if (spec.nat6 !== 'none' && lan.ipv6 !== undefined) {
      postrouting.push(`oifname ${wan} ip6 saddr ${cidr(lan.ipv6, 6)} ${masq(spec.nat6)}`);
    }
  }

  const chain = (name: string, lines: string[]): string =>
    `  chain ${name} {\n${lines.map((l) => `    ${l}\n`).join('')}  }\n`;
  return (
    `table inet ${ROUTER_TABLE} {}\n` +
    `delete table inet ${ROUTER_TABLE}\n` +
    `table inet ${ROUTER_TABLE} {\n` +
    `  counter ${INBOUND_DROP_COUNTER} {}\n` +
    chain('input', input) +
    chain('forward', forward) +
    chain('postrouting', postrouting) +
    '}\n'
  );
}

/** The netdev table holding the loss rules of every impaired interface in one namespace. */
export const IMPAIR_TABLE = 'fz_impair';

function impairChain(ifname: string): string {
  q(ifname);
  return `in_${ifname.replace(/[^\w]/g, '_')}`;
}

/**
 * Random loss of `percent` % of the IP packets *received* by `ifname` (netdev ingress hook; the
 * same as a loss on the sending side's egress). Neighbour discovery and ARP are spared so the
 * link still resolves addresses. `percent` 0 removes the rule.
 */
export function lossRuleset(ifname: string, percent: number): string {
  if (!(percent >= 0 && percent <= 100)) throw new Error(`loss must be 0..100 %, got ${percent}`);
  const chain = impairChain(ifname);
  const threshold = Math.round(percent * 100);
  let text =
    `table netdev ${IMPAIR_TABLE} {}\n` +
    `table netdev ${IMPAIR_TABLE} {\n` +
    `  chain ${chain} { type filter hook ingress device ${q(ifname)} priority 0; policy accept; }\n` +
    `}\n` +
    `flush chain netdev ${IMPAIR_TABLE} ${chain}\n`;
  if (threshold > 0) {
    text +=
      `add rule netdev ${IMPAIR_TABLE} ${chain} icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, ` +
      `nd-router-solicit, nd-router-advert } accept\n` +
      `add rule netdev ${IMPAIR_TABLE} ${chain} meta protocol { ip, ip6 } ` +
      `numgen random mod 10000 < ${threshold} counter drop\n`;
  }
  return text;
}

/** Removes the loss chain of `ifname` (its absence is fine: run with allowFailure). */
export function lossRemoval(ifname: string): string {
  return `delete chain netdev ${IMPAIR_TABLE} ${impairChain(ifname)}\n`;
}
