/**
 * Reads a token file the way ssh reads a private key: a regular file, owned by root or by the
 * user running us, not accessible by group or others, one line of printable ASCII. The token
 * never appears in an error message.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync } from 'node:fs';

const MAX_TOKEN_FILE_BYTES = 64 * 1024;
/** Tokens travel in an HTTP header: visible ASCII only. */
export const TOKEN_CHARS = /^[\x21-\x7e]{1,4096}$/;

export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

/** `checkPermissions: false` is for files whose access a service manager controls (systemd credentials). */
export function readTokenFile(path: string, origin = '--token-file', checkPermissions = true): string {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw new TokenFileError(`cannot read the token file ${path} (${origin}): ${(err as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new TokenFileError(`the token file ${path} (${origin}) is not a regular file`);
    const mode = st.mode & 0o777;
    if (checkPermissions && (mode & 0o077) !== 0) {
      throw new TokenFileError(
        `permissions ${mode.toString(8).padStart(4, '0')} for the token file ${path} are too open: it must ` +
          `not be accessible by group or others (chmod 600 ${path})`,
      );
    }
    const euid = process.geteuid?.() ?? 0;
    if (st.uid !== 0 && st.uid !== euid) {
      throw new TokenFileError(
        `the token file ${path} is owned by uid ${st.uid}: it must belong to root or to us`,
      );
    }
    if (st.size > MAX_TOKEN_FILE_BYTES)
      throw new TokenFileError(`the token file ${path} is too large to be a token`);
    const buf = Buffer.alloc(MAX_TOKEN_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buf, length, buf.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > MAX_TOKEN_FILE_BYTES)
        throw new TokenFileError(`the token file ${path} is too large to be a token`);
    }
    const token = buf.subarray(0, length).toString('utf8').trim();
    buf.fill(0);
    if (token === '') throw new TokenFileError(`the token file ${path} (${origin}) is empty`);
    if (!TOKEN_CHARS.test(token)) {
      throw new TokenFileError(
        `the token file ${path} (${origin}) holds characters a token cannot have (one line of printable ASCII expected)`,
      );
    }
    return token;
  } catch (err) {
    if (err instanceof TokenFileError) throw err;
    throw new TokenFileError(`cannot read the token file ${path} (${origin}): ${(err as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
