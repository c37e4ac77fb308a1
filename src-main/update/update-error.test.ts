import { describe, expect, it } from 'vitest';
import { updateError } from './update-error.js';

describe('updateError', () => {
  it('names the failed step and gives known causes a sentence', () => {
    expect(
      updateError(
        Object.assign(new Error('sha512 checksum mismatch, expected …'), { code: 'ERR_CHECKSUM_MISMATCH' }),
        'download',
      ),
    ).toEqual({
      code: 'update-download-failed',
      message:
        'The downloaded update is damaged (its checksum does not match the update feed), so it was discarded.',
    });
    expect(
      updateError(
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
        'check',
      ),
    ).toEqual({
      code: 'update-check-failed',
      message: 'The update server could not be reached.',
    });
    expect(
      updateError(Object.assign(new Error('403 Forbidden\nheaders: …'), { statusCode: 403 }), 'check')
        .message,
    ).toBe('The update server answered HTTP 403.');
  });

  it('keeps only the first line of anything else, bounded', () => {
    expect(updateError(new Error('disk full\n    at stack frame'), 'download').message).toBe('disk full');
    const long = updateError(new Error('x'.repeat(500)), 'check').message;
    expect(long).toHaveLength(200);
    expect(long.endsWith('…')).toBe(true);
    expect(updateError('plain string', 'check').message).toBe('plain string');
  });
});
