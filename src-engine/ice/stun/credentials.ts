/**
 * Keys for MESSAGE-INTEGRITY (RFC 8489 §9): the short-term key is the password itself, the
 * long-term key MD5(username ":" realm ":" password) (§9.2.2, password algorithm MD5 — the only
 * one coturn and Firezone's relay use).
 *
 * Strings are prepared with the mapping and normalisation steps of SASLprep (RFC 4013 §2.1–2.2),
 * as RFC 5389 prescribed and RFC 5769's long-term vector assumes. RFC 8489 replaced SASLprep by
 * OpaqueString (RFC 8265), which differs only for non-ASCII credentials; the credentials our
 * portal mints are ASCII, so both give the same key.
 */
import { createHash } from 'node:crypto';

// RFC 3454 table B.1 ("commonly mapped to nothing"), as [first, last] code point ranges. Not a
// regular expression: several are combining marks, which a character class would mangle.
const MAPPED_TO_NOTHING: readonly (readonly [number, number])[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];
// RFC 3454 table C.1.2 (non-ASCII space characters), mapped to U+0020.
const NON_ASCII_SPACES: readonly (readonly [number, number])[] = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

function inRanges(cp: number, ranges: readonly (readonly [number, number])[]): boolean {
  return ranges.some(([first, last]) => cp >= first && cp <= last);
}

/** SASLprep's map and normalise steps (RFC 4013 §2.1, §2.2); ASCII passes unchanged. */
export function saslprep(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  let mapped = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (inRanges(cp, MAPPED_TO_NOTHING)) continue;
    mapped += inRanges(cp, NON_ASCII_SPACES) ? ' ' : ch;
  }
  return mapped.normalize('NFKC');
}

/** RFC 8489 §9.1.1: the short-term credential key is the (prepared) password's UTF-8. */
export function shortTermKey(password: string): Uint8Array {
  return new Uint8Array(Buffer.from(saslprep(password), 'utf8'));
}

/** RFC 8489 §9.2.2: MD5(username ":" realm ":" password), 16 bytes. */
export function longTermKey(username: string, realm: string, password: string): Uint8Array {
  const input = `${saslprep(username)}:${saslprep(realm)}:${saslprep(password)}`;
  return new Uint8Array(createHash('md5').update(input, 'utf8').digest());
}
