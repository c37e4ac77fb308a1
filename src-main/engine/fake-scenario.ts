// A realistic account for the fake engine: 50 resources in 3 sites plus the Internet Resource,
// with deterministic ids so screenshots and tests are stable from run to run.

export type FakeActivity =
  /** Gets a direct (ICE host/srflx) tunnel shortly after connecting. */
  | 'direct'
  /** Gets a tunnel through a TURN relay. */
  | 'relayed'
  /** Authorised but unused: no tunnel until something sends a packet to it. */
  | 'idle';

export interface FakeSiteDef {
  readonly id: string;
  readonly name: string;
  /** Whether the site has an online gateway while the engine is connected. */
  readonly online: boolean;
  readonly gateways: readonly { readonly id: string; readonly name: string; readonly address: string }[];
}

export interface FakeResourceDef {
  readonly id: string;
  readonly type: 'dns' | 'cidr' | 'internet';
  readonly name: string;
  readonly address: string;
  readonly addressDescription: string | null;
  readonly siteId: string;
  readonly activity: FakeActivity;
}

export interface FakeScenario {
  readonly sites: readonly FakeSiteDef[];
  readonly resources: readonly FakeResourceDef[];
  readonly interface: { readonly ipv4: string; readonly ipv6: string };
  readonly relay: string;
}

/** Deterministic UUID-shaped ids (not random UUIDs: stable across runs on purpose). */
export function fakeId(kind: number, n: number): string {
  const hex = (v: number, len: number) => v.toString(16).padStart(len, '0');
  return `${hex(0x5eed0000 + kind, 8)}-${hex(n, 4)}-4${hex(kind, 3)}-8${hex(n * 7, 3)}-${hex((n * 2654435761) >>> 0, 12)}`;
}

type Row = [
  type: 'dns' | 'cidr',
  name: string,
  address: string,
  description: string | null,
  activity: FakeActivity,
];

const HQ: Row[] = [
  ['dns', 'GitLab', 'gitlab.hq.corp.example', 'https://gitlab.hq.corp.example', 'direct'],
  ['dns', 'Jira', 'jira.hq.corp.example', 'https://jira.hq.corp.example', 'direct'],
  ['dns', 'Confluence wiki', 'wiki.hq.corp.example', 'https://wiki.hq.corp.example', 'idle'],
  ['dns', 'Grafana', 'grafana.hq.corp.example', 'Dashboards', 'direct'],
  ['dns', 'Prometheus', 'prometheus.hq.corp.example', null, 'idle'],
  ['dns', 'Vault', 'vault.hq.corp.example', 'Secrets (read-only for most groups)', 'idle'],
  ['dns', 'LDAP', 'ldap.hq.corp.example', 'ldaps://ldap.hq.corp.example:636', 'idle'],
  ['dns', 'File server', 'files.hq.corp.example', 'SMB shares', 'relayed'],
  ['dns', 'Printers', '*.printers.hq.corp.example', 'All office printers', 'idle'],
  ['dns', 'CI runners', 'ci-runner-?.hq.corp.example', null, 'idle'],
  ['dns', 'Prod deploy console', 'deploy.prod.hq.corp.example', 'Release tooling', 'idle'],
  ['dns', 'Billing database', 'billing-db.hq.corp.example', 'PostgreSQL 16', 'idle'],
  ['dns', 'Intranet', 'intranet.hq.corp.example', null, 'idle'],
  ['dns', 'Chat bridge', 'matrix.hq.corp.example', null, 'idle'],
  ['dns', 'Build cache', 'cache.hq.corp.example', null, 'idle'],
  ['cidr', 'Office LAN', '10.10.0.0/16', 'Frankfurt office network', 'idle'],
  ['cidr', 'Server VLAN', '10.11.0.0/24', null, 'idle'],
  ['cidr', 'VoIP phones', '10.12.8.0/22', null, 'idle'],
  ['cidr', 'Management switch', '10.10.0.2/32', null, 'idle'],
  ['cidr', 'Door controller', '10.10.200.17/32', null, 'idle'],
];

const AWS: Row[] = [
  ['dns', 'Prod API (internal)', 'api.prod.aws.corp.example', 'Internal API gateway', 'relayed'],
  ['dns', 'Staging API', 'api.staging.aws.corp.example', null, 'idle'],
  ['dns', 'Prod PostgreSQL primary', 'pg-primary.prod.aws.corp.example', 'Port 5432', 'direct'],
  ['dns', 'Prod PostgreSQL replica', 'pg-replica.prod.aws.corp.example', 'Port 5432, read-only', 'idle'],
  ['dns', 'Prod Redis', 'redis.prod.aws.corp.example', null, 'idle'],
  ['dns', 'EKS clusters', '*.eks.aws.corp.example', 'Kubernetes API servers', 'idle'],
  ['dns', 'Argo CD', 'argocd.aws.corp.example', null, 'idle'],
  ['dns', 'Kibana', 'kibana.aws.corp.example', 'Logs', 'idle'],
  ['dns', 'OpenSearch', 'search.aws.corp.example', null, 'idle'],
  ['dns', 'Bastion', 'bastion.aws.corp.example', 'SSH, port 22', 'idle'],
  ['dns', 'Feature flags', 'flags.aws.corp.example', null, 'idle'],
  ['dns', 'Queue admin', 'rabbitmq.prod.aws.corp.example', null, 'idle'],
  ['dns', 'Object storage gateway', 's3-gw.aws.corp.example', null, 'idle'],
  ['cidr', 'Prod VPC', '10.20.0.0/16', 'eu-west-1 production', 'idle'],
  ['cidr', 'Staging VPC', '10.21.0.0/16', null, 'idle'],
  ['cidr', 'Shared services', '10.22.4.0/24', null, 'idle'],
  ['cidr', 'IPv6 prod subnet', 'fd12:3456:789a::/48', null, 'idle'],
  ['cidr', 'NAT instance', '10.20.0.10/32', null, 'idle'],
];

const LAB: Row[] = [
  ['dns', 'Lab switches', 'lab-switch-?.lab.corp.example', null, 'idle'],
  ['dns', 'HIL bench 01', 'hil-01.lab.corp.example', 'Hardware-in-the-loop rig', 'idle'],
  ['dns', 'HIL bench 02', 'hil-02.lab.corp.example', 'Hardware-in-the-loop rig', 'idle'],
  ['dns', 'Test runner', 'runner.lab.corp.example', null, 'idle'],
  ['dns', 'Prod mirror (lab)', 'prod-mirror.lab.corp.example', 'Nightly copy of production data', 'idle'],
  ['dns', 'Firmware builds', 'firmware.lab.corp.example', null, 'idle'],
  ['dns', 'Oscilloscopes', '*.scope.lab.corp.example', null, 'idle'],
  ['cidr', 'Lab network', '192.168.50.0/24', 'Berlin lab', 'idle'],
  ['cidr', 'Device pool', '192.168.51.0/24', null, 'idle'],
  ['cidr', 'Power distribution', '192.168.50.250/32', null, 'idle'],
  ['cidr', 'Camera', '192.168.50.31/32', null, 'idle'],
  ['cidr', 'Lab IPv6', 'fd99:1ab::/64', null, 'idle'],
];

/** The scenario the screenshots use: 50 resources, 3 sites (one offline), Internet Resource. */
export function demoScenario(): FakeScenario {
  const sites: FakeSiteDef[] = [
    {
      id: fakeId(1, 1),
      name: 'Frankfurt HQ',
      online: true,
      gateways: [
        { id: fakeId(2, 1), name: 'gw-fra-1', address: '198.51.100.23:51820' },
        { id: fakeId(2, 2), name: 'gw-fra-2', address: '198.51.100.24:51820' },
      ],
    },
    {
      id: fakeId(1, 2),
      name: 'AWS eu-west-1',
      online: true,
      gateways: [{ id: fakeId(2, 3), name: 'gw-aws-euw1-a', address: '203.0.113.40:51820' }],
    },
    {
      id: fakeId(1, 3),
      name: 'Berlin lab',
      online: false,
      gateways: [{ id: fakeId(2, 4), name: 'gw-lab-1', address: '192.0.2.77:51820' }],
    },
    {
      id: fakeId(1, 4),
      name: 'Internet',
      online: true,
      gateways: [{ id: fakeId(2, 5), name: 'gw-exit-fra', address: '198.51.100.80:51820' }],
    },
  ];
  const resources: FakeResourceDef[] = [];
  let n = 0;
  for (const [rows, site] of [
    [HQ, sites[0]!],
    [AWS, sites[1]!],
    [LAB, sites[2]!],
  ] as const) {
    for (const [type, name, address, addressDescription, activity] of rows) {
      n += 1;
      resources.push({
        id: fakeId(3, n),
        type,
        name,
        address,
        addressDescription,
        siteId: site.id,
        activity,
      });
    }
  }
  resources.push({
    id: fakeId(3, 999),
    type: 'internet',
    name: 'Internet Resource',
    address: '',
    addressDescription: null,
    siteId: sites[3]!.id,
    activity: 'relayed',
  });
  return {
    sites,
    resources,
    interface: { ipv4: '100.72.112.111', ipv6: 'fd00:2021:1111::13:efb9' },
    relay: '203.0.113.7:3478',
  };
}
