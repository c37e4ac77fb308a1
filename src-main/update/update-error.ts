// What the user reads when an update step fails. electron-updater's errors carry a code
// (`ERR_CHECKSUM_MISMATCH`, `ERR_UPDATER_…`), an HTTP status or a socket error code, and
// multi-line messages with stack traces and URLs: none of that belongs in the About page, so each
// known cause gets a sentence and anything else its first line.

import type { UserError } from '../../src-shared/domain.js';

/** Which step failed: the renderer words the two differently. */
export type UpdatePhase = 'check' | 'download';

export const UPDATE_ERROR_CODES = {
  check: 'update-check-failed',
  download: 'update-download-failed',
} as const satisfies Record<UpdatePhase, string>;

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
]);
const MAX_MESSAGE = 200;

function describe(e: { code?: unknown; statusCode?: unknown; message?: unknown }): string {
  const code = typeof e.code === 'string' ? e.code : '';
  if (code === 'ERR_CHECKSUM_MISMATCH')
    return 'The downloaded update is damaged (its checksum does not match the update feed), so it was discarded.';
  if (code === 'ERR_UPDATER_CHANNEL_FILE_NOT_FOUND')
    return 'The update feed has no release for this platform.';
  if (code === 'ERR_UPDATER_INVALID_VERSION' || code === 'ERR_UPDATER_INVALID_UPDATE_INFO')
    return 'The update feed is invalid.';
  if (UNREACHABLE.has(code)) return 'The update server could not be reached.';
  if (typeof e.statusCode === 'number') return `The update server answered HTTP ${e.statusCode}.`;
  const first = (typeof e.message === 'string' ? e.message : String(e)).split('\n')[0]!.trim();
  if (!first) return 'Unknown error.';
  return first.length > MAX_MESSAGE ? `${first.slice(0, MAX_MESSAGE - 1)}…` : first;
}

export function updateError(e: unknown, phase: UpdatePhase): UserError {
  const fields = typeof e === 'object' && e !== null ? e : { message: String(e) };
  return { code: UPDATE_ERROR_CODES[phase], message: describe(fields) };
}
