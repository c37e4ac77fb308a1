/**
 * node-tun: TUN devices and batched UDP sockets. Packets move in packed batches between the kernel
 * and JS-owned buffers; each batch crosses N-API once.
 *
 * Packets live in "slots": packet i occupies
 * `buffer[i*slotSize + headroom, i*slotSize + headroom + lengths[i])`.
 */

/** Size of a per-slot address record: [0]=4|6, [1]=0, [2..4)=port big-endian, [4..20)=address (IPv4 in the first 4 bytes). */
export const ADDR_SIZE: 20;

/** Writes an address record at out[offset..offset+ADDR_SIZE). IPv4-mapped IPv6 addresses are stored as IPv4. */
export function encodeAddress(address: string, port: number, out: Uint8Array, offset: number): void;
/** Reads the address record at records[offset..offset+ADDR_SIZE). */
export function decodeAddress(records: Uint8Array, offset: number): { address: string; port: number };

/** Errors from the kernel: `code` is the errno name ('EPERM', 'EBADFD', ...). */
export interface SystemError extends Error {
  code: string;
  syscall?: string;
  errno?: number;
}

export interface TunStats {
  readPackets: number;
  /** onPackets calls. */
  readBatches: number;
  writtenPackets: number;
  /** Reads longer than slotSize - headroom (dropped). */
  droppedOversize: number;
  /** Reads that are not a whole IPv4/IPv6 packet: no or short header, or shorter than the header's length (dropped). */
  droppedInvalid: number;
  /** Writes the kernel refused (packets dropped and counted, or the error that was thrown). */
  writeErrors: number;
  /** Writes that hit EAGAIN (back-pressure). */
  eagainWrites: number;
  /** Offloads: reads that were a TCP/UDP segment bigger than one packet (split here). */
  superReads: number;
  /** Offloads: packets made by splitting those reads. */
  splitPackets: number;
  /** Offloads: writes that carried several packets as one TCP segment. */
  coalescedWrites: number;
  /** Offloads: packets that went out in those writes. */
  coalescedPackets: number;
  /** Offloads: coalesced writes the kernel refused (coalescing is then switched off, packets re-sent one by one). */
  offloadWriteErrors: number;
}

/** What a device's offloads are (all false without `offload`, and on macOS/Windows). */
export interface TunOffload {
  /** Every read and write carries a virtio-net header (Linux IFF_VNET_HDR); handled inside. */
  vnetHeader: boolean;
  /** TCP segmentation offload: reads may be TCP segments of up to 64 KiB (split into packets
   * here), writes of consecutive TCP packets are coalesced. */
  tso: boolean;
  /** UDP segmentation offload (Linux 6.2+): reads may be UDP segments of up to 64 KiB. */
  uso: boolean;
}

export interface TunOpenOptions {
  /** Interface name (at most 15 bytes on Linux; may hold a '%d' pattern). '' or absent: the kernel picks one. */
  name?: string | undefined;
  /** IFF_MULTI_QUEUE (Linux): open the same name again for more queues. */
  multiQueue?: boolean | undefined;
  /**
   * Linux: open with IFF_VNET_HDR and ask for checksum, TCP and UDP segmentation offloads
   * (TUNSETOFFLOAD), as many as the kernel grants (see `offload`). The kernel then moves up to
   * 64 KiB per read and write instead of one packet; the slots still hold ordinary packets of at
   * most the MTU: super packets are split on read and consecutive TCP packets coalesced on write
   * inside the addon. Ignored elsewhere.
   */
  offload?: boolean | undefined;
}

export class TunDevice {
  private constructor();
  /** Opens /dev/net/tun with TUNSETIFF IFF_TUN|IFF_NO_PI (|IFF_MULTI_QUEUE), O_NONBLOCK|O_CLOEXEC. */
  static open(options?: TunOpenOptions): TunDevice;
  /**
   * Adopts a TUN fd that another process opened, e.g. one received from a privileged helper over
   * a UnixSocket. Linux: TUNGETIFF gives the name and must show IFF_TUN|IFF_NO_PI; macOS: a utun
   * control socket (UTUN_OPT_IFNAME). Sets O_NONBLOCK and FD_CLOEXEC. On success the device owns
   * the fd (close() closes it) and behaves exactly like an opened one; on failure (a SystemError,
   * e.g. EBADFD for a tun fd without a device, ENOTTY/EINVAL for anything else) the caller still
   * owns it. Windows: throws ERR_NOT_SUPPORTED (wintun has no fd).
   */
  static fromFd(fd: number): TunDevice;
  readonly name: string;
  /** The device's fd; -1 after close() (and always on Windows). */
  readonly fd: number;
  /**
   * Watches the device with uv_poll. On each wake-up reads up to maxBatch packets into slots
   * 0.. of buffer, sets lengths[], then calls onPackets(count) once; the slots are reused after
   * it returns. Oversize and non-IP reads are dropped and counted and count towards maxBatch.
   * A fatal error (device deleted → EBADFD, ...) stops reading and calls onError(err) once.
   * Calling it again replaces the buffers and callbacks.
   */
  startReading(
    buffer: Uint8Array,
    slotSize: number,
    headroom: number,
    lengths: Uint32Array,
    maxBatch: number,
    onPackets: (count: number) => void,
    onError: (err: SystemError) => void,
  ): void;
  stopReading(): void;
  /**
   * Writes packets 0..count-1 (one write(2) each, one N-API call for the batch). Returns how many
   * packets were consumed: written, or dropped because the kernel refused that packet (EINVAL,
   * EMSGSIZE, ENOBUFS, ENOMEM; counted in writeErrors). Less than count only when EAGAIN stopped
   * the batch (counted in eagainWrites): retry from the returned index. Throws a SystemError for
   * device errors (EBADFD, EIO, ...).
   */
  write(buffer: Uint8Array, slotSize: number, headroom: number, lengths: Uint32Array, count: number): number;
  /** One packet: true if written, false on EAGAIN or a refused packet (see stats). */
  writePacket(packet: Uint8Array): boolean;
  readonly stats: TunStats;
  /** The offloads granted when the device was opened (or adopted: a fd opened with IFF_VNET_HDR). */
  readonly offload: TunOffload;
  /** Idempotent; stops reading and closes the fd (the interface disappears unless persistent). */
  close(): void;
}

export interface UdpStats {
  receivedDatagrams: number;
  /** onPackets calls. */
  receiveBatches: number;
  sentDatagrams: number;
  /** sendmmsg calls that sent at least one datagram. */
  sendBatches: number;
  /** send() calls stopped by EAGAIN. */
  eagainSends: number;
  /** Received datagrams longer than slotSize - headroom (dropped). */
  truncated: number;
  /** Datagrams dropped because the kernel refused them (ENETUNREACH, EMSGSIZE, wrong family, ...). */
  sendErrors: number;
  /** Messages sent with UDP GSO (several datagrams in one trip through the stack). */
  gsoSends: number;
  /** Coalesced (UDP GRO) receives, each split into several slots. */
  groReceives: number;
  /** Datagrams the kernel dropped before we read them: receive buffer full (or a bad UDP
   * checksum). Linux (SO_MEMINFO), read when asked; 0 elsewhere. */
  receiveDrops: number;
}

export interface UdpBindOptions {
  address: string;
  /** 0: an ephemeral port. */
  port: number;
  reuseAddr?: boolean | undefined;
  recvBufferSize?: number | undefined;
  sendBufferSize?: number | undefined;
  /** Send runs of equal-size datagrams to one destination with UDP GSO (Linux 4.18+). Default true. */
  gso?: boolean | undefined;
  /** Receive coalesced datagrams with UDP GRO (Linux 5.0+); the addon splits them into slots. Default true. */
  gro?: boolean | undefined;
  /**
   * SO_MARK (Linux), set before bind: every datagram of the socket carries this fwmark, for policy
   * routing (`ip rule ... fwmark`). Needs CAP_NET_ADMIN (or CAP_NET_RAW on Linux 5.17+): without
   * it bind throws an EPERM error that says so. Absent: no mark and no capability needed.
   * Other platforms throw ERR_NOT_SUPPORTED when a mark is given.
   */
  mark?: number | undefined;
}

export class UdpSocket {
  private constructor();
  /** A non-blocking UDP socket, IPv4 or IPv6 by address; IPv6 sockets are dual-stack (IPV6_V6ONLY=0). */
  static bind(options: UdpBindOptions): UdpSocket;
  readonly address: string;
  /** The bound port (the actual one when 0 was asked for). */
  readonly port: number;
  /** The socket's fd; -1 after close(). */
  readonly fd: number;
  /** Which offloads are in use (asked for and supported by the kernel). GSO turns off by itself if the kernel refuses it with EIO. */
  readonly offloads: { gso: boolean; gro: boolean };
  /**
   * recvmmsg up to maxBatch datagrams per wake-up into slots, source address records into addrs
   * (ADDR_SIZE per slot); onPackets(count) once per batch. Truncated datagrams are dropped and
   * counted. Fatal errors call onError once and stop reading.
   */
  startReading(
    buffer: Uint8Array,
    slotSize: number,
    headroom: number,
    lengths: Uint32Array,
    addrs: Uint8Array,
    maxBatch: number,
    onPackets: (count: number) => void,
    onError: (err: SystemError) => void,
  ): void;
  stopReading(): void;
  /**
   * sendmmsg of datagrams 0..count-1 to the records addrs[i*ADDR_SIZE..]. Returns how many were
   * consumed (sent, or dropped as refused: see sendErrors); less than count only on EAGAIN.
   */
  send(
    buffer: Uint8Array,
    slotSize: number,
    headroom: number,
    lengths: Uint32Array,
    addrs: Uint8Array,
    count: number,
  ): number;
  /** Calls cb once when the socket is writable (uv_poll UV_WRITABLE). Dropped if the socket closes first. */
  onceWritable(cb: () => void): void;
  readonly stats: UdpStats;
  /** Idempotent. */
  close(): void;
}

/**
 * Sets SO_MARK (Linux) on a socket that someone else created, e.g. a node:dgram socket after
 * bind, so that its packets carry the fwmark from then on. mark: 0..0xffffffff. Throws a
 * SystemError (EPERM without CAP_NET_ADMIN/CAP_NET_RAW, EBADF, ENOTSOCK, ...); on other platforms
 * an Error with code ERR_NOT_SUPPORTED.
 */
export function setSocketMark(fd: number, mark: number): void;

/**
 * A fresh TCP socket (AF_INET or AF_INET6; SOCK_NONBLOCK | SOCK_CLOEXEC) with SO_MARK set (Linux),
 * not bound and not connected; the caller owns the fd. Wrap it with
 * `new net.Socket({ fd, readable: true, writable: true })` and call `.connect(port, ip)` in the
 * same tick with an IP address of the same family: Node starts reading a wrapped fd at once, and
 * if the event loop polls the socket before connect() it reports ENOTCONN and destroys it.
 * Errors as for setSocketMark (the fd is closed first).
 */
export function createTcpSocket(family: 4 | 6, mark: number): number;

/** Who is on the other end of a Unix socket, as of connect (SO_PEERCRED/SO_PEERGROUPS; macOS LOCAL_PEERCRED). */
export interface PeerCredentials {
  pid: number;
  uid: number;
  /** The peer's effective gid. */
  gid: number;
  /** Its supplementary groups (Linux 4.13+; on macOS the credential's group list). */
  groups: number[];
}

/**
 * A non-blocking Unix stream socket (Linux, macOS) that passes file descriptors (SCM_RIGHTS) and
 * tells who the peer is. Watched by one uv_poll: nothing blocks the event loop. The byte stream
 * has no framing of its own. Windows: connect/listen/closeFd throw ERR_NOT_SUPPORTED.
 */
export class UnixSocket {
  private constructor();
  /** Connects at once (a Unix connect never waits): ENOENT, ECONNREFUSED, EACCES, EAGAIN (backlog full) throw. */
  static connect(path: string): UnixSocket;
  /** Binds and listens (backlog default 64). The path must not exist; permissions follow the umask. */
  static listen(path: string, backlog?: number): UnixSocket;
  /** -1 after close(). */
  readonly fd: number;
  peerCredentials(): PeerCredentials;
  /**
   * One recvmsg (≤ 64 KiB) per wake-up: onData(bytes, fd) with fd the first descriptor that
   * came with them (close-on-exec; any further ones are closed) or -1. The receiver owns fd
   * (adopt it, or closeFd it). At end of stream onData(null, -1) once and reading stops. A fatal
   * error calls onError once and stops reading.
   */
  startReading(
    onData: (data: Uint8Array | null, fd: number) => void,
    onError: (err: SystemError) => void,
  ): void;
  /** Listening sockets: onConnection for each accepted socket (up to 16 per wake-up). */
  startAccepting(onConnection: (socket: UnixSocket) => void, onError: (err: SystemError) => void): void;
  stopReading(): void;
  /**
   * sendmsg (MSG_DONTWAIT, no SIGPIPE): returns the bytes written, 0 on EAGAIN (then
   * onceWritable). fd, if given, travels with the first byte, so only when the result is > 0;
   * the sender keeps its own copy. Other errors (EPIPE, ECONNRESET, ...) throw.
   */
  send(data: Uint8Array, fd?: number | null): number;
  /** cb() once the socket is writable; one waiting callback at a time (a second call replaces it). */
  onceWritable(cb: () => void): void;
  /** Idempotent; stops the poll, then closes the fd. The path of a listening socket is not removed. */
  close(): void;
}

/** Closes a descriptor received with onData that the receiver does not want. */
export function closeFd(fd: number): void;

/** Internal, for tests: the offload byte work behind TunDevice (no device needed). */
export declare const _vnet: {
  /** A virtio-net header + IP packet, as an offloaded read gives it → the ordinary packets it makes. */
  split(data: Uint8Array): Uint8Array[];
  /**
   * Ordinary packets, as write() takes them → the writes it would make (header + packet each);
   * `udp` false is a device the kernel gave no USO (only TCP then coalesces).
   */
  coalesce(packets: Uint8Array[], udp?: boolean): { count: number; header: Uint8Array; packet: Uint8Array }[];
};
