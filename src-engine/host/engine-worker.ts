/**
 * The engine worker: runs the data path off the main thread (in Electron the main thread is
 * the UI's). Everything packet-related lives here; the host sees only messages.
 */
import { isIP } from 'node:net';
import { parentPort } from 'node:worker_threads';
import { parseCidr } from '../datapath/allowed-ips.js';
import { DgramUdpTransport } from '../datapath/dgram-udp.js';
import { NativeUdpTransport } from '../datapath/native-udp.js';
import type { UdpTransport } from '../datapath/udp.js';
import { WireGuardDevice } from '../datapath/wg-device.js';
import { configureLinuxInterface } from '../tun/linux-config.js';
import { LinuxTunDevice } from '../tun/linux.js';
import { defaultBackend, loadBackend } from '../wireguard/crypto/index.js';
import { ParallelAead, parallelAeadLanes } from '../wireguard/crypto/parallel-aead.js';
import { formatEndpoint } from '../wireguard/endpoint.js';
import type { EngineStats, HostToWorker, TunnelConfig, WorkerToHost } from './protocol.js';

if (!parentPort) throw new Error('engine-worker.ts must run in a worker thread');
const port = parentPort;
const post = (m: WorkerToHost): void => port.postMessage(m);
/** A WireGuard key in base64; the error names the field, never the value (it may be secret). */
const b64 = (s: string, field: string): Uint8Array => {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'base64') : Buffer.alloc(0);
  if (bytes.length !== 32 || bytes.toString('base64') !== s)
    throw new Error(`${field} is not a 32-byte base64 key`);
  return bytes;
};

let device: WireGuardDevice | undefined;
let tun: LinuxTunDevice | undefined;
let udp: UdpTransport | undefined;
let parallelAead: ParallelAead | undefined;
let backendName = '';

/** node-tun's batched socket where it exists; node:dgram where node-tun has none (Windows). */
async function openUdp(config: TunnelConfig, sharedMemory: boolean): Promise<UdpTransport> {
  const options = {
    address: config.listen.address,
    port: config.listen.port,
    batchSize: config.batchSize,
    sharedMemory,
  };
  try {
    return new NativeUdpTransport(options);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOSYS') throw err;
    return DgramUdpTransport.bind(options);
  }
}

function checkEndpoint(
  e: { address: string; port: number },
  field: string,
): { address: string; port: number } {
  if (isIP(e.address) === 0 || !Number.isInteger(e.port) || e.port < 1 || e.port > 65535) {
    throw new Error(`${field} must be an IP address and a port in 1–65535`);
  }
  return { address: e.address, port: e.port };
}

async function start(config: TunnelConfig): Promise<void> {
  // Everything from the config is checked before any device is opened, so a bad config fails
  // with a clear message and leaves nothing behind.
  const crypto = config.cryptoBackend ? loadBackend(config.cryptoBackend) : defaultBackend();
  backendName = crypto.name;
  const mtu = config.mtu ?? 1280;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535)
    throw new Error(`mtu must be an integer in 576–65535, not ${mtu}`);
  const deviceConfig = {
    crypto,
    privateKey: b64(config.privateKey, 'privateKey'),
    mtu,
    padding: config.padding,
    batchSize: config.batchSize,
    peers: config.peers.map((p, i) => ({
      publicKey: b64(p.publicKey, `peers[${i}].publicKey`),
      presharedKey: p.presharedKey ? b64(p.presharedKey, `peers[${i}].presharedKey`) : undefined,
      endpoint: p.endpoint && checkEndpoint(p.endpoint, `peers[${i}].endpoint`),
      allowedIps: p.allowedIps.map(parseCidr),
      persistentKeepalive: p.persistentKeepalive,
    })),
  };
  for (const address of [...config.addresses, ...(config.routes ?? [])]) parseCidr(address);
  let lanes = config.cryptoLanes ?? parallelAeadLanes();
  if (lanes !== 1 && lanes !== 2) throw new Error(`cryptoLanes must be 1 or 2, not ${String(lanes)}`);

  // Two lanes: a crypto worker seals and opens half of each batch, in place in shared-memory
  // batches, and the TUN gets a queue per lane (docs/performance.md, "More cores"). A worker
  // that cannot start costs only the speed-up.
  if (lanes === 2) {
    try {
      parallelAead = ParallelAead.start(crypto, { capacity: 2 * (config.batchSize ?? 64) });
    } catch (err) {
      // Not an error of the tunnel: it runs with one lane, and `started` says so.
      post({ type: 'event', peer: '', event: 'crypto_worker_unavailable', detail: (err as Error).message });
      lanes = 1;
    }
  }
  const shared = lanes === 2;
  tun = new LinuxTunDevice({
    name: config.interfaceName,
    mtu,
    batchSize: config.batchSize,
    queues: lanes,
    sharedMemory: shared,
  });
  udp = await openUdp(config, shared);
  device = new WireGuardDevice({ ...deviceConfig, parallelAead }, tun, udp);
  device.onEvent((peer, e) =>
    post({ type: 'event', peer: Buffer.from(peer).toString('base64'), event: e.type }),
  );
  await configureLinuxInterface(tun.name, { addresses: config.addresses, mtu, routes: config.routes });
  device.start((err) => post({ type: 'error', message: err.message, fatal: true }));
  if (config.connectOnStart) device.connectAll();
  post({
    type: 'started',
    interfaceName: tun.name,
    listenPort: udp.localPort,
    cryptoBackend: crypto.name,
    cryptoLanes: lanes,
  });
}

function stats(): EngineStats {
  const now = performance.now();
  return {
    interfaceName: tun?.name ?? '',
    cryptoBackend: backendName,
    peers: (device?.peerStats() ?? []).map((p) => ({
      publicKey: Buffer.from(p.publicKey).toString('base64'),
      endpoint: p.endpoint ? formatEndpoint(p.endpoint) : undefined,
      txBytes: p.stats.txBytes,
      rxBytes: p.stats.rxBytes,
      handshakesCompleted: p.stats.handshakesCompleted,
      lastHandshakeAgoMs: p.stats.lastHandshakeAt === undefined ? null : now - p.stats.lastHandshakeAt,
      dropped: { ...p.stats.dropped },
    })),
    device: { ...(device?.stats ?? {}) },
    tun: { ...(tun?.stats ?? {}) },
    udp: { ...(udp?.stats ?? {}) },
    crypto: {
      lanes: parallelAead ? 2 : 1,
      tunQueues: tun?.queueCount ?? 0,
      ...Object.fromEntries((tun?.queueReads ?? []).map((n, i) => [`tunQueue${i}Reads`, n])),
      ...(parallelAead?.stats ?? {}),
    },
  };
}

port.on('message', (m: HostToWorker) => {
  switch (m.type) {
    case 'start':
      start(m.config).catch((err: Error) => {
        // Release whatever was opened: a TUN left open keeps its interface alive.
        if (device) device.stop();
        else {
          tun?.close();
          udp?.close();
        }
        parallelAead?.close();
        post({ type: 'error', message: err.message, fatal: true });
      });
      break;
    case 'stats':
      post({ type: 'stats', id: m.id, stats: stats() });
      break;
    case 'stop':
      device?.stop();
      parallelAead?.close();
      post({ type: 'stopped' });
      port.close();
      break;
  }
});
