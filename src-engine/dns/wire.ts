/**
 * The few raw-byte operations the stub resolver does around `dns-packet`: header fields, the span
 * of the first question, header-only error replies, truncation and ID rewriting. None of them
 * throws on any input.
 */

export const HEADER_LENGTH = 12;

export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const OPCODE_MASK = 0x7800;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = (typeof RCODE)[keyof typeof RCODE];

export const QTYPE = { A: 1, CNAME: 5, PTR: 12, TXT: 16, AAAA: 28, SRV: 33, HTTPS: 65 } as const;
export const QCLASS_IN = 1;

export const readU16 = (bytes: Uint8Array, offset: number): number =>
  (bytes[offset]! << 8) | bytes[offset + 1]!;

function writeU16(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >> 8) & 0xff;
  bytes[offset + 1] = value & 0xff;
}

export interface QuestionSpan {
  /** Offset just after the name (where QTYPE starts). */
  readonly nameEnd: number;
  /** Offset just after QCLASS. */
  readonly end: number;
  readonly qtype: number;
  readonly qclass: number;
  /**
   * Every label byte is printable ASCII other than `.`: the text `dns-packet` decodes is then
   * exactly the name on the wire (it would not escape a dot inside a label, and would replace
   * bytes that are not UTF-8).
   */
  readonly plainAscii: boolean;
}

/**
 * The first question, read straight from the bytes; null when there is none, it runs past the
 * end, or its name uses compression (which a question cannot: there is nothing before it to point to).
 */
export function scanQuestion(bytes: Uint8Array): QuestionSpan | null {
  if (bytes.length < HEADER_LENGTH || readU16(bytes, 4) === 0) return null;
  let offset = HEADER_LENGTH;
  let plainAscii = true;
  for (;;) {
    if (offset >= bytes.length) return null;
    const length = bytes[offset]!;
    if (length === 0) break;
    if (length > 63) return null;
    if (offset + 1 + length > bytes.length) return null;
    for (let i = offset + 1; i <= offset + length; i++) {
      const b = bytes[i]!;
      if (b < 0x21 || b > 0x7e || b === 0x2e) plainAscii = false;
    }
    offset += 1 + length;
  }
  const nameEnd = offset + 1;
  if (nameEnd + 4 > bytes.length) return null;
  return {
    nameEnd,
    end: nameEnd + 4,
    qtype: readU16(bytes, nameEnd),
    qclass: readU16(bytes, nameEnd + 2),
    plainAscii,
  };
}

/** A reply of just a header: the query's ID, opcode and RD, QR and RA set, all counts zero. */
export function headerOnlyReply(query: Uint8Array, rcode: Rcode): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH);
  out[0] = query[0] ?? 0;
  out[1] = query[1] ?? 0;
  const flags = query.length >= 4 ? readU16(query, 2) : 0;
  writeU16(out, 2, FLAG_QR | (flags & (OPCODE_MASK | FLAG_RD)) | FLAG_RA | rcode);
  return out;
}

/**
 * A reply cut down to its header and question with TC=1 and every count but QDCOUNT zero
 * (docs/protocol.md §2.3 step 9), so the client asks again over TCP.
 */
export function truncateReply(reply: Uint8Array): Uint8Array {
  const question = scanQuestion(reply);
  const end = question?.end ?? HEADER_LENGTH;
  const out = reply.slice(0, end);
  writeU16(out, 2, readU16(out, 2) | FLAG_TC);
  if (question === null) writeU16(out, 4, 0);
  else writeU16(out, 4, 1);
  writeU16(out, 6, 0);
  writeU16(out, 8, 0);
  writeU16(out, 10, 0);
  return out;
}

/** A copy of the message with another ID. */
export function withId(message: Uint8Array, id: number): Uint8Array {
  const out = message.slice();
  writeU16(out, 0, id);
  return out;
}

/** The question's bytes with the name's ASCII letters lowercased: to compare questions (0x20-safe). */
export function foldedQuestion(message: Uint8Array, span: QuestionSpan): Uint8Array {
  const out = message.slice(HEADER_LENGTH, span.end);
  const nameBytes = span.nameEnd - HEADER_LENGTH;
  for (let i = 0; i < nameBytes; i++) {
    const b = out[i]!;
    if (b >= 0x41 && b <= 0x5a) out[i] = b | 0x20;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
