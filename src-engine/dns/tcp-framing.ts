/** DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): each message behind a 2-byte length. */

/** Largest DNS message TCP framing can carry. */
export const MAX_TCP_MESSAGE = 0xffff;

/** The message with its 2-byte big-endian length in front; RangeError if it is over 65535 bytes. */
export function frameTcpMessage(message: Uint8Array): Uint8Array {
  if (message.length > MAX_TCP_MESSAGE) throw new RangeError(`DNS message of ${message.length} bytes`);
  const out = new Uint8Array(message.length + 2);
  out[0] = message.length >> 8;
  out[1] = message.length & 0xff;
  out.set(message, 2);
  return out;
}

/**
 * Splits a TCP byte stream into DNS messages, whatever the segment boundaries. Holds at most one
 * partial message (≤ 65537 bytes). Zero-length frames are skipped.
 */
export class TcpDnsDeframer {
  #buffer = new Uint8Array(0);

  /** Bytes received that do not yet make a whole message. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Feeds received bytes; returns the messages they completed (copies, in order). */
  push(chunk: Uint8Array): Uint8Array[] {
    let data: Uint8Array;
    if (this.#buffer.length === 0) {
      data = chunk;
    } else {
      data = new Uint8Array(this.#buffer.length + chunk.length);
      data.set(this.#buffer);
      data.set(chunk, this.#buffer.length);
    }
    const messages: Uint8Array[] = [];
    let offset = 0;
    while (data.length - offset >= 2) {
      const length = (data[offset]! << 8) | data[offset + 1]!;
      if (data.length - offset - 2 < length) break;
      if (length > 0) messages.push(data.slice(offset + 2, offset + 2 + length));
      offset += 2 + length;
    }
    this.#buffer = data.slice(offset);
    return messages;
  }
}
