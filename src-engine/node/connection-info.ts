import type { ConnectionInfo } from './node.js';

/** The node reports times on its monotonic clock; status output wants unix milliseconds. */
export function toWallClock(
  info: ConnectionInfo,
  monotonicNow: number,
  wallNow = Date.now(),
): ConnectionInfo {
  if (info.lastHandshakeAt === undefined) return info;
  return { ...info, lastHandshakeAt: wallNow - (monotonicNow - info.lastHandshakeAt) };
}
