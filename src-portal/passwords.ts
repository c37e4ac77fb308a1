/**
 * Password hashes of the config file: scrypt (RFC 7914), stored as
 * `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>`. `hash-password` on the CLI makes them.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** 2^15 × 8 × 128 B = 32 MiB per hash, ~0.1 s: costly to guess, cheap enough for a dev portal. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
const MIN_N = 2 ** 12;
const MAX_N = 2 ** 20;

export class PasswordHashError extends Error {
  override readonly name = 'PasswordHashError';
}

interface ParsedHash extends ScryptParams {
  readonly salt: Buffer;
  readonly hash: Buffer;
}

const FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/** Parses and checks a stored hash; throws `PasswordHashError` saying what is wrong. */
export function parsePasswordHash(text: string): ParsedHash {
  const match = FORMAT.exec(text);
  if (!match)
    throw new PasswordHashError('expected "scrypt$N$r$p$salt$hash" (make one with `hash-password`)');
  const [N, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  if (!(N >= MIN_N && N <= MAX_N && (N & (N - 1)) === 0)) {
    throw new PasswordHashError(`scrypt N must be a power of two between ${MIN_N} and ${MAX_N}, got ${N}`);
  }
  if (!(r >= 1 && r <= 32)) throw new PasswordHashError(`scrypt r must be 1..32, got ${r}`);
  if (!(p >= 1 && p <= 16)) throw new PasswordHashError(`scrypt p must be 1..16, got ${p}`);
  const salt = Buffer.from(match[4]!, 'base64');
  const hash = Buffer.from(match[5]!, 'base64');
  if (salt.length < 8) throw new PasswordHashError('scrypt salt must be at least 8 bytes');
  if (hash.length < 16 || hash.length > 64) throw new PasswordHashError('scrypt hash must be 16..64 bytes');
  return { N, r, p, salt, hash };
}

function scrypt(password: string, salt: Buffer, params: ScryptParams, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(
      password.normalize('NFC'),
      salt,
      length,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (error, key) => (error ? reject(error) : resolve(key)),
    );
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  if (password.length === 0) throw new PasswordHashError('password must not be empty');
  if (password.length > 1024) throw new PasswordHashError('password is longer than 1024 characters');
  const salt = randomBytes(SALT_LENGTH);
  const hash = await scrypt(password, salt, params, KEY_LENGTH);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Constant-time check of `password` against a stored hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (password.length > 1024) return false;
  const candidate = await scrypt(password, parsed.salt, parsed, parsed.hash.length);
  return timingSafeEqual(candidate, parsed.hash);
}

/**
 * A hash of a random password with default parameters, verified against when the email is
 * unknown so that the response time does not tell which emails exist.
 */
export function dummyHash(): Promise<string> {
  return hashPassword(randomBytes(16).toString('hex'));
}
