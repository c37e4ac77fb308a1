/**
 * The gateway's connection runtime: opens the TUN and the UDP sockets, runs the engine's
 * `GatewayRuntime` (portal session, gateway core, ICE/TURN/WireGuard node) until the gateway is
 * told to stop, and rejects on anything fatal (the portal refused the token, the TUN vanished).
 */
import { gatewayCrypto } from '../src-engine/gateway/gateway-crypto.js';
import { GatewayRuntime as EngineGatewayRuntime } from '../src-engine/gateway/gateway-runtime.js';
import { iceAgentFactory } from '../src-engine/node/ice-agent-adapter.js';
import { hostAddresses } from '../src-engine/platform/host-addresses.js';
import { LinuxInterface } from '../src-engine/platform/linux-interface.js';
import { userAgentPartsFor } from '../src-engine/portal/host-user-agent.js';
import { openUdpSockets } from '../src-engine/platform/udp-sockets.js';
import { LinuxTunDevice } from '../src-engine/tun/linux.js';
import { TUN_MTU } from '../src-engine/tun/device.js';
import type { GatewayRuntime } from './gateway.js';

export const engineRuntime: GatewayRuntime = async ({
  tunName,
  portalUrl,
  token,
  deviceId,
  name,
  logger,
  signal,
}) => {
  let tun: LinuxTunDevice;
  try {
    tun = new LinuxTunDevice({ name: tunName });
  } catch (err) {
    throw new Error(`cannot open TUN device ${tunName}: ${(err as Error).message}`, { cause: err });
  }
  const transports = await openUdpSockets().catch((err: unknown) => {
    tun.close();
    throw new Error(`cannot open the UDP sockets: ${(err as Error).message}`, { cause: err });
  });
  const iface = new LinuxInterface(tun.name);
  const keys = gatewayCrypto();
  const runtime = new EngineGatewayRuntime({
    portalUrl,
    token,
    deviceId,
    name,
    // The Firezone protocol version, not the package's: see FIREZONE_PROTOCOL_VERSION.
    userAgent: userAgentPartsFor('gateway'),
    crypto: keys.crypto,
    createAgent: iceAgentFactory(),
    tun,
    transports,
    applyInterface: (config) =>
      iface.apply({
        addresses: [`${config.ipv4}/32`, `${config.ipv6}/128`],
        routes: config.routes,
        mtu: TUN_MTU,
      }),
    hostAddresses: () => hostAddresses({ excludeInterfaces: [tun.name] }),
    logger,
  });
  await new Promise<void>((resolve, reject) => {
    runtime.onFatal((error) => reject(error));
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
    runtime.start();
    logger.info('gateway engine started', {
      tun: tun.name,
      udp: transports.map((t) => `${t.localAddress}:${t.localPort}`),
    });
  }).finally(() => {
    runtime.stop();
    keys.close();
  });
};
