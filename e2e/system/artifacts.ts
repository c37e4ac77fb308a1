/**
 * Failure reports a person can act on: while a scenario runs, `startLinkCaptures` records every
 * link of its topology (tcpdump, headers only, bounded); when it fails, `saveArtifacts` leaves
 * the full output of every process (portal, gateways, client, relay, resource servers) and those
 * captures under `e2e/artifacts/<scenario>/`. A passing scenario leaves nothing.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectivityTopology } from './connectivity/topology.js';

const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;
/** Bytes kept of each packet: the headers (IP, UDP/TCP, STUN/WireGuard type) are what matter. */
const SNAPLEN = 200;
/** Packets per link at most, so a long scenario cannot fill the disk. */
const MAX_PACKETS = 200_000;

const captures = new WeakMap<ConnectivityTopology, string[]>();

/** Starts one tcpdump per link (on its inner end); they stop with the topology. */
export function startLinkCaptures(topo: ConnectivityTopology): void {
  const dir = join(topo.tmpDir, 'pcap');
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const link of topo.links.values()) {
    const file = join(dir, `${link.name}.pcap`);
    topo.harness.spawnIn(
      link.inner.host.ns.name,
      'tcpdump',
      ['-i', link.inner.ifname, '-n', '-U', '-s', String(SNAPLEN), '-c', String(MAX_PACKETS), '-w', file],
      { label: `capture:${link.name}` },
    );
    files.push(file);
  }
  captures.set(topo, files);
}

export function scenarioSlug(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 80) || 'scenario'
  );
}

/** Writes the processes' logs and the link captures of a failed scenario; returns the folder. */
export function saveArtifacts(topo: ConnectivityTopology, scenario: string): string {
  const dir = join(ARTIFACTS, scenarioSlug(scenario));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const used = new Map<string, number>();
  for (const proc of topo.harness.trackedProcesses) {
    if (proc.label.startsWith('capture:')) continue;
    const base = scenarioSlug(proc.label).slice(0, 60);
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    writeFileSync(join(dir, `${base}${n > 1 ? `-${n}` : ''}.log`), `${proc.label}\n\n${proc.output}`);
  }
  for (const file of captures.get(topo) ?? []) {
    if (existsSync(file)) copyFileSync(file, join(dir, file.split('/').at(-1)!));
  }
  return dir;
}
