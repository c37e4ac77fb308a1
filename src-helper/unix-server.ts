/**
 * The helper's listener on Linux and macOS: a Unix stream socket in a directory only root and
 * the helper's group can enter (0750 root:<group>, socket 0660), the caller identified by the
 * kernel's peer credentials at connect time, then one HelperSession per connection. Connections
 * from anyone else are answered with one refusal frame and closed.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { closeFd, UnixSocket } from 'node-tun';
import { UnixFrameConnection } from '../src-engine/platform/tun-helper/unix-connection.js';
import type { Logger } from '../src-engine/portal/log.js';
import type { AccessPolicy } from './access.js';
import type { BackendFactory, PeerInfo } from './backend.js';
import type { UidLimiter } from './limits.js';
import { HelperSession, TunnelLock, type ResponseSink } from './session.js';

/** How long a refused connection stays open so that its refusal arrives. */
const REFUSAL_LINGER_MS = 1000;

export interface UnixHelperServerOptions {
  readonly socketPath: string;
  /** The group that may connect (owns the directory and the socket); undefined: root only. */
  readonly gid: number | undefined;
  readonly access: AccessPolicy;
  readonly limiter: UidLimiter;
  readonly createBackend: BackendFactory;
  readonly logger: Logger;
}

export class UnixHelperServer {
  private listener: UnixSocket | undefined;
  private readonly sessions = new Set<HelperSession>();
  private readonly lock = new TunnelLock();

  constructor(private readonly options: UnixHelperServerOptions) {}

  /** Creates the directory and socket with their modes and starts accepting. */
  listen(): void {
    const { socketPath, gid } = this.options;
    const dir = dirname(socketPath);
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    chmodSync(dir, 0o750);
    chownSync(dir, 0, gid ?? 0);
    try {
      // A socket left by a helper that died; anything else at the path is not ours to delete.
      if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
    // Created 0600 (umask) and widened to 0660 root:<group> before anyone can be let in.
    const umask = process.umask(0o177);
    try {
      this.listener = UnixSocket.listen(socketPath, 64);
    } finally {
      process.umask(umask);
    }
    chownSync(socketPath, 0, gid ?? 0);
    chmodSync(socketPath, 0o660);
    this.listener.startAccepting(
      (socket) => this.accept(socket),
      (error) => this.options.logger.error('accepting stopped', { error: error.message }),
    );
    this.options.logger.info('listening', { socket: socketPath, gid: gid ?? 'root only' });
  }

  /** Stops accepting, ends every session (removing what they set up) and removes the socket. */
  async close(): Promise<void> {
    this.listener?.close();
    this.listener = undefined;
    await Promise.allSettled([...this.sessions].map((s) => s.end()));
    try {
      unlinkSync(this.options.socketPath);
    } catch {
      // already gone
    }
  }

  private accept(socket: UnixSocket): void {
    const { logger, access, limiter } = this.options;
    let peer: PeerInfo;
    try {
      peer = socket.peerCredentials();
    } catch (error) {
      logger.warn('connection refused: no peer credentials', { error: (error as Error).message });
      socket.close();
      return;
    }
    const who = { uid: peer.uid, gid: peer.gid, pid: peer.pid };
    const denied = access.check(peer);
    const limited = denied === undefined ? limiter.connect(peer.uid) : undefined;
    if (denied !== undefined || limited !== undefined) {
      const code = denied !== undefined ? 'permission-denied' : 'rate-limited';
      logger.warn('connection refused', { ...who, code, error: denied ?? limited });
      // Kept open (reading and discarding) for a moment: closing a Unix socket with unread
      // bytes resets it, and the refusal would be lost before the caller could read it.
      const refusal = new UnixFrameConnection(socket, {
        onFrame: dropFrame,
        onBadStream: () => refusal.close(),
        onClose: () => clearTimeout(timer),
      });
      const timer = setTimeout(() => refusal.close(), REFUSAL_LINGER_MS);
      refusal.send({ id: null, ok: false, error: { code, message: denied ?? limited } });
      return;
    }
    logger.info('connection accepted', who);
    let connection: UnixFrameConnection | undefined = undefined;
    const sink: ResponseSink = {
      send: (response, fd) => {
        if (connection && !connection.isClosed) connection.send(response, fd);
      },
      end: () => connection?.end(),
    };
    const current = new HelperSession(peer, sink, this.options.createBackend, this.lock, limiter, logger);
    this.sessions.add(current);
    connection = new UnixFrameConnection(socket, {
      onFrame: (payload, fds) => {
        dropFrame(payload, fds);
        current.onFrame(payload, fds.length);
      },
      onBadStream: (error) => current.onBadStream(error),
      onClose: (reason) => {
        limiter.disconnect(peer.uid);
        logger.info('connection closed', { ...who, session: current.id, reason: reason?.message ?? 'end' });
        void current.end().finally(() => this.sessions.delete(current));
      },
    });
  }
}

/** The helper takes no descriptors from callers: close any that came. */
function dropFrame(_payload: Uint8Array, fds: number[]): void {
  for (const fd of fds) {
    try {
      closeFd(fd);
    } catch {
      // gone already
    }
  }
}
