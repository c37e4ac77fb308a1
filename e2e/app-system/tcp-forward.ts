/**
 * A TCP forwarder: `tsx tcp-forward.ts <listen host> <listen port> <target host> <target port>`
 * accepts on the listen address and pipes each connection to the target. Run inside the client's
 * namespace it makes the dev portal reachable as `127.0.0.1:<port>` there: the app accepts
 * plain `ws://`/`http://` portal URLs only on loopback (a token never crosses a network in clear
 * text), and the dev portal speaks plain HTTP, as on a developer's laptop.
 */
import { createConnection, createServer } from 'node:net';

const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
if (!listenHost || !listenPort || !targetHost || !targetPort) {
  process.stderr.write('usage: tcp-forward.ts <listen host> <listen port> <target host> <target port>\n');
  process.exit(2);
}

const server = createServer((inbound) => {
  const outbound = createConnection({ host: targetHost, port: Number(targetPort) });
  inbound.pipe(outbound).pipe(inbound);
  const end = (): void => {
    inbound.destroy();
    outbound.destroy();
  };
  inbound.on('error', end);
  outbound.on('error', end);
  inbound.on('close', end);
  outbound.on('close', end);
});
server.listen(Number(listenPort), listenHost, () => {
  process.stdout.write(`forwarding ${listenHost}:${listenPort} to ${targetHost}:${targetPort}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
