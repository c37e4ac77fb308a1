/**
 * Who may use the helper: root, and members of one group (default fz-tunnel; the packages
 * create it and admins add desktop users). Membership is judged from the credentials the kernel
 * recorded when the peer connected (primary gid and supplementary groups), not from anything
 * the peer sends.
 */
import { readFileSync } from 'node:fs';
import type { PeerInfo } from './backend.js';

/** The gid of `name` in a group(5) file, or undefined when it has no entry. */
export function groupId(name: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

export interface AccessPolicy {
  /** Undefined: allowed; otherwise why not. */
  check(peer: PeerInfo): string | undefined;
}

export function groupAccess(groupName: string, gid: number | undefined): AccessPolicy {
  return {
    check(peer) {
      if (peer.uid === 0) return undefined;
      if (gid !== undefined && (peer.gid === gid || peer.groups.includes(gid))) return undefined;
      return gid === undefined
        ? `only root may use the TUN helper: the group ${groupName} does not exist`
        : `uid ${peer.uid} is not root and not in the group ${groupName}; an administrator can run \`usermod -aG ${groupName} <user>\` (then sign in again)`;
    },
  };
}
