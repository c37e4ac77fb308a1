/**
 * The app's side of the TUN-helper system test, run as an unprivileged user (the test spawns it
 * with uid/gid). Driven over stdin with one JSON command per line; answers `RPC {id, ok, result |
 * error}` lines. Once open, it answers every ICMP echo request it reads from the TUN with an echo
 * reply written back to it, so `ping` in the helper's namespace proves both directions.
 */
import { createInterface } from 'node:readline';
import { UnixSocket } from 'node-tun';
import type { ClientInterfaceConfig } from '../../../src-engine/client/client-runtime.js';
import { HelperTunProvider } from '../../../src-engine/platform/tun-helper/client.js';
import { FrameDecoder, encodeFrame } from '../../../src-engine/platform/tun-helper/protocol.js';
import { TunProviderError } from '../../../src-engine/platform/tun-provider.js';
import { createBatch, slot, slotSpace } from '../../../src-engine/tun/batch.js';
import type { TunDevice } from '../../../src-engine/tun/device.js';

export type ChildCommand =
  | { cmd: 'open'; socket: string }
  | { cmd: 'apply'; config: ClientInterfaceConfig }
  | { cmd: 'request'; body: Record<string, unknown> }
  | { cmd: 'raw'; socket: string; frames: string[]; waitMs?: number }
  | { cmd: 'connections'; socket: string; count: number }
  | { cmd: 'stats' }
  | { cmd: 'close' };

export interface RawResult {
  responses: unknown[];
  closedByHelper: boolean;
  connectError: string | null;
}

let provider: HelperTunProvider | undefined;
let tun: TunDevice | undefined;
const counters = { echoRequests: 0, repliesWritten: 0 };

/** Swaps addresses, makes it an echo reply and fixes both checksums (incrementally for ICMP). */
function echoReply(p: Uint8Array): Uint8Array | undefined {
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 1) return undefined;
  const ihl = (p[0]! & 0x0f) * 4;
  if (p[ihl] !== 8) return undefined;
  const out = Uint8Array.from(p);
  out.set(p.subarray(16, 20), 12);
  out.set(p.subarray(12, 16), 16);
  out[ihl] = 0;
  // Type 8 → 0 lowers the ones' complement sum by 0x0800: the checksum rises by it.
  let sum = ((out[ihl + 2]! << 8) | out[ihl + 3]!) + 0x0800;
  sum = (sum & 0xffff) + (sum >>> 16);
  out[ihl + 2] = sum >> 8;
  out[ihl + 3] = sum & 0xff;
  return out; // the IPv4 header checksum is unchanged by swapping two of its words
}

function startEcho(device: TunDevice): void {
  const out = createBatch(1, 2048);
  device.start(
    (batch, count) => {
      for (let i = 0; i < count; i++) {
        const reply = echoReply(slot(batch, i));
        if (!reply) continue;
        counters.echoRequests++;
        slotSpace(out, 0).set(reply);
        out.lengths[0] = reply.length;
        counters.repliesWritten += device.write(out, 1);
      }
    },
    (err) => console.error(`tun error: ${err.message}`),
  );
}

/** One connection that sends raw bytes (base64 frames) and collects what the helper answers. */
function raw(socketPath: string, frames: string[], waitMs: number): Promise<RawResult> {
  return new Promise((resolve) => {
    let sock: UnixSocket;
    try {
      sock = UnixSocket.connect(socketPath);
    } catch (error) {
      resolve({
        responses: [],
        closedByHelper: false,
        connectError: (error as { code?: string }).code ?? 'error',
      });
      return;
    }
    const decoder = new FrameDecoder();
    const responses: unknown[] = [];
    let closedByHelper = false;
    sock.startReading(
      (data) => {
        if (data === null) {
          closedByHelper = true;
          return;
        }
        for (const f of decoder.push(data)) responses.push(JSON.parse(new TextDecoder().decode(f)));
      },
      () => (closedByHelper = true),
    );
    for (const f of frames) {
      try {
        sock.send(Buffer.from(f, 'base64'));
      } catch {
        closedByHelper = true;
      }
    }
    setTimeout(() => {
      sock.close();
      resolve({ responses, closedByHelper, connectError: null });
    }, waitMs);
  });
}

async function handle(command: ChildCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'open': {
      provider = new HelperTunProvider({ socketPath: command.socket, requestTimeoutMs: 20_000 });
      tun = await provider.open();
      startEcho(tun);
      return { device: tun.name, uid: process.getuid?.(), gid: process.getgid?.() };
    }
    case 'apply':
      await provider!.apply(command.config);
      return null;
    case 'request':
      return (await provider!.request(command.body)).result ?? null;
    case 'raw':
      return raw(command.socket, command.frames, command.waitMs ?? 500);
    case 'connections': {
      // Several connections at once, each with one harmless request, to trip the per-uid limits.
      const results = await Promise.all(
        Array.from({ length: command.count }, () =>
          raw(
            command.socket,
            [Buffer.from(encodeFrame({ id: 1, type: 'close', device: 'tun-fz999' })).toString('base64')],
            800,
          ),
        ),
      );
      return results;
    }
    case 'stats':
      return { ...counters, tun: tun?.stats };
    case 'close':
      await provider?.close();
      return null;
  }
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const { id, ...command } = JSON.parse(line) as { id: number } & ChildCommand;
  handle(command as ChildCommand).then(
    (result) => process.stdout.write(`RPC ${JSON.stringify({ id, ok: true, result })}\n`),
    (error: unknown) => {
      const code = error instanceof TunProviderError ? error.code : undefined;
      process.stdout.write(
        `RPC ${JSON.stringify({ id, ok: false, error: (error as Error).message, code })}\n`,
      );
    },
  );
});
rl.on('close', () => process.exit(0));
