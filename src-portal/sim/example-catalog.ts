/**
 * A small catalog for simulations and tests: two sites, a DNS, a CIDR and the Internet resource,
 * two users in different groups, one relay.
 */
import type { Catalog } from '../signalling/catalog.js';

export const EXAMPLE_IDS = {
  account: '4c9a7a44-2b7e-4f6e-9d0a-000000000001',
  siteHq: '4c9a7a44-2b7e-4f6e-9d0a-0000000000a1',
  siteLab: '4c9a7a44-2b7e-4f6e-9d0a-0000000000a2',
  wiki: '4c9a7a44-2b7e-4f6e-9d0a-0000000000b1',
  lan: '4c9a7a44-2b7e-4f6e-9d0a-0000000000b2',
  internet: '4c9a7a44-2b7e-4f6e-9d0a-0000000000b3',
  labHosts: '4c9a7a44-2b7e-4f6e-9d0a-0000000000b4',
  engineering: '4c9a7a44-2b7e-4f6e-9d0a-0000000000c1',
  everyone: '4c9a7a44-2b7e-4f6e-9d0a-0000000000c2',
  alice: '4c9a7a44-2b7e-4f6e-9d0a-0000000000d1',
  bob: '4c9a7a44-2b7e-4f6e-9d0a-0000000000d2',
  relay: '4c9a7a44-2b7e-4f6e-9d0a-0000000000e1',
} as const;

export function exampleCatalog(): Catalog {
  const id = EXAMPLE_IDS;
  return {
    account: { id: id.account, slug: 'acme', name: 'Acme Inc', iceless: false },
    sites: [
      { id: id.siteHq, name: 'HQ' },
      { id: id.siteLab, name: 'Lab' },
    ],
    resources: [
      {
        id: id.wiki,
        type: 'dns',
        name: 'Wiki',
        address: '*.wiki.acme.test',
        addressDescription: 'the internal wiki',
        siteId: id.siteHq,
        filters: [{ protocol: 'tcp', port_range_start: 443, port_range_end: 443 }],
        ipStack: 'dual',
      },
      {
        id: id.lan,
        type: 'cidr',
        name: 'HQ LAN',
        address: '10.20.0.0/16',
        addressDescription: null,
        siteId: id.siteHq,
        filters: [],
      },
      { id: id.internet, type: 'internet', name: 'Internet', siteId: id.siteHq },
      {
        id: id.labHosts,
        type: 'cidr',
        name: 'Lab hosts',
        address: '172.16.5.0/24',
        addressDescription: null,
        siteId: id.siteLab,
        filters: [{ protocol: 'icmp' }],
      },
    ],
    actors: [
      { id: id.alice, name: 'Alice', email: 'alice@acme.test', groupIds: [id.engineering, id.everyone] },
      { id: id.bob, name: 'Bob', email: 'bob@acme.test', groupIds: [id.everyone] },
    ],
    groups: [
      { id: id.engineering, name: 'Engineering' },
      { id: id.everyone, name: 'Everyone' },
    ],
    policies: [
      { id: '4c9a7a44-2b7e-4f6e-9d0a-0000000000f1', groupId: id.everyone, resourceId: id.wiki },
      { id: '4c9a7a44-2b7e-4f6e-9d0a-0000000000f2', groupId: id.engineering, resourceId: id.lan },
      { id: '4c9a7a44-2b7e-4f6e-9d0a-0000000000f3', groupId: id.engineering, resourceId: id.labHosts },
      { id: '4c9a7a44-2b7e-4f6e-9d0a-0000000000f4', groupId: id.engineering, resourceId: id.internet },
    ],
    relays: [
      {
        id: id.relay,
        name: 'relay-1',
        addresses: [{ ip: '127.0.0.1', port: 3478 }],
        secret: 'sim-relay-secret',
      },
    ],
    dns: { upstreamDo53: ['1.1.1.1'], upstreamDoh: [], searchDomain: 'acme.test' },
  };
}
