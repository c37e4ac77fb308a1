/** Every fuzz target, in the order `npm run fuzz` runs them. */
import type { FuzzTarget } from '../target.js';
import { dnsNatTarget } from './dns-nat.js';
import { dnsTarget } from './dns.js';
import { exchangeTarget } from './exchange.js';
import { ipcTarget } from './ipc.js';
import { p2pControlTarget } from './p2p-control.js';
import { packetTarget } from './packet.js';
import { portalTarget } from './portal.js';
import { stunTarget } from './stun.js';
import { wireguardTarget } from './wireguard.js';

export const TARGETS: readonly FuzzTarget[] = [
  packetTarget,
  wireguardTarget,
  stunTarget,
  dnsTarget,
  p2pControlTarget,
  portalTarget,
  ipcTarget,
  dnsNatTarget,
  exchangeTarget,
];
