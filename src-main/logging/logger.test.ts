import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SecretToken } from '../auth/token-store.js';
import { readZip } from '../testing/unzip.js';
import { exportLogs } from './export-logs.js';
import { Logger, formatLogLine } from './logger.js';
import { RotatingFileSink } from './rotating-file-sink.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fz-logs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Logger', () => {
  it('drops entries below the level and numbers the rest', () => {
    const log = new Logger({ level: 'info', now: () => 0 });
    log.debug('hidden');
    log.info('one');
    log.warn('two');
    expect(log.recent().map((e) => [e.seq, e.level, e.message])).toEqual([
      [1, 'info', 'one'],
      [2, 'warn', 'two'],
    ]);
    log.setLevel('debug');
    log.debug('now visible');
    expect(log.recent()).toHaveLength(3);
  });

  it('masks registered secrets and secret-looking parameters everywhere', () => {
    const log = new Logger({ level: 'trace' });
    const token = new SecretToken('abcdef0123456789-secret-token');
    log.addSecret(token.reveal());
    log.info(`engine said ${token.reveal()} and ${token}`);
    log.info('GET /x?state=0123abcd&fragment=SFMyNTY.secret&as=gui-client');
    log.info('header X-Authorization: Bearer abc.def.ghi');
    const text = log
      .recent()
      .map((e) => e.message)
      .join('\n');
    expect(text).not.toContain('abcdef0123456789-secret-token');
    expect(text).not.toContain('SFMyNTY.secret');
    expect(text).not.toContain('0123abcd');
    expect(text).not.toContain('abc.def.ghi');
    expect(text).toContain('as=gui-client');
  });

  it('keeps one entry on one line', () => {
    const log = new Logger({ level: 'info' });
    log.info('a\nb\u001b[31mc');
    expect(log.recent()[0]!.message).toBe('a ⏎ b\\x1b[31mc');
  });

  it('caps the ring buffer', () => {
    const log = new Logger({ level: 'info', ringSize: 3 });
    for (let i = 0; i < 10; i++) log.info(`m${i}`);
    expect(log.recent().map((e) => e.message)).toEqual(['m7', 'm8', 'm9']);
  });

  it('formats lines for the file', () => {
    expect(
      formatLogLine({ seq: 1, time: Date.UTC(2026, 0, 1), level: 'warn', source: 'engine', message: 'x' }),
    ).toBe('2026-01-01T00:00:00.000Z WARN  [engine] x');
  });
});

describe('RotatingFileSink and export', () => {
  it('appends, rotates by size, keeps N files, clears', async () => {
    const sink = new RotatingFileSink({ dir, maxBytes: 200, keep: 2 });
    const log = new Logger({ level: 'info', sink, now: () => 0 });
    for (let i = 0; i < 12; i++) log.info(`line ${i} ${'x'.repeat(40)}`);
    await log.flush();
    for (let i = 12; i < 20; i++) {
      log.info(`line ${i} ${'x'.repeat(40)}`);
      await log.flush();
    }
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(['app.log', 'app.log.1', 'app.log.2']);
    expect(await readFile(path.join(dir, 'app.log'), 'utf8')).toContain('line 19');
    expect((await sink.files()).map((f) => path.basename(f))).toEqual(['app.log', 'app.log.1', 'app.log.2']);
    await log.clear();
    expect(await readdir(dir)).toEqual([]);
    expect(log.recent()).toEqual([]);
  });

  it('exports the files and a system description as a zip', async () => {
    const sink = new RotatingFileSink({ dir });
    const log = new Logger({ level: 'info', sink });
    log.info('hello from the log');
    await log.flush();
    const dest = path.join(dir, 'out', 'logs.zip');
    const r = await exportLogs({
      files: await sink.files(),
      destination: dest,
      system: { version: '0.1.0' },
    });
    expect(r).toMatchObject({ path: dest, files: 1 });
    const entries = readZip(await readFile(dest));
    expect([...entries.keys()]).toEqual(['logs/app.log', 'system.json']);
    expect(entries.get('logs/app.log')!.toString()).toContain('hello from the log');
    expect(JSON.parse(entries.get('system.json')!.toString())).toEqual({ version: '0.1.0' });
  });
});
