/**
 * A handshake flood: `tsx handshake-flood.ts <ip> <port> <responder public key, base64> <seconds>`
 * sends WireGuard handshake initiations with a valid MAC1 for that responder (so they pass the
 * cheap check and would cost it a Diffie-Hellman each) and random everything else, as fast as
 * the socket takes them, for `seconds`. Prints `SENT <n> COOKIES <m>`: initiations sent and
 * cookie replies received (a responder under load answers with cookies instead of working).
 */
import { createSocket } from 'node:dgram';
import { randomFillSync } from 'node:crypto';
import { CookieGenerator } from '../../../src-engine/wireguard/cookie.js';
import { defaultBackend } from '../../../src-engine/wireguard/crypto/index.js';
import { classify } from '../../../src-engine/wireguard/messages.js';

const [ip, port, publicKey, seconds] = process.argv.slice(2);
if (!ip || !port || !publicKey || !seconds) {
  process.stderr.write('usage: handshake-flood.ts <ip> <port> <public key base64> <seconds>\n');
  process.exit(2);
}
const macs = new CookieGenerator(defaultBackend(), Buffer.from(publicKey, 'base64'));
const socket = createSocket('udp4');
let sent = 0;
let cookies = 0;
socket.on('message', (m) => {
  if (classify(m) === 'cookie') cookies++;
});
const end = Date.now() + Number(seconds) * 1000;
const burst = (): void => {
  if (Date.now() >= end) {
    process.stdout.write(`SENT ${sent} COOKIES ${cookies}\n`);
    socket.close();
    return;
  }
  for (let i = 0; i < 64; i++) {
    const msg = new Uint8Array(148);
    randomFillSync(msg);
    msg.set([1, 0, 0, 0], 0);
    macs.addMacs(msg, 0);
    socket.send(msg, Number(port), ip);
    sent++;
  }
  setImmediate(burst);
};
socket.bind(0, burst);
