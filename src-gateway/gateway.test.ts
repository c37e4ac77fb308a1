/** runGateway's life cycle with a fake host and fake runtimes: order, stop, exit codes, logs. */
import { describe, expect, it } from 'vitest';
import type { Logger } from '../src-engine/portal/log.js';
import { runGateway, type GatewayHost, type GatewayOptions, type GatewayRuntime } from './gateway.js';

const TOKEN = 'gw.SECRET.token';

function setup(overrides: Partial<GatewayHost> = {}) {
  const events: string[] = [];
  const lines: string[] = [];
  const log =
    (level: string) =>
    (msg: string): void =>
      void lines.push(`${level} ${msg}`);
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  const host: GatewayHost = {
    cleanStale: async () => (events.push('cleanStale'), false),
    setUp: async () => events.push('setUp'),
    tearDown: async () => void events.push('tearDown'),
    ...overrides,
  };
  const stop = new AbortController();
  const options: GatewayOptions = {
    portalUrl: 'wss://portal.test',
    token: TOKEN,
    deviceId: 'gw-1',
    name: 'gw',
    tunName: 'tun-fz',
    stateDir: '/nonexistent',
    logger,
    host,
    signal: stop.signal,
    handleProcessSignals: false,
    stopTimeoutMs: 200,
  };
  const errors = (): string[] => lines.filter((l) => l.startsWith('error '));
  return { events, lines, errors, options, stop };
}

describe('runGateway', () => {
  it('sets up, runs until stopped, tears down, exit 0', async () => {
    const t = setup();
    const runtime: GatewayRuntime = async (ctx) => {
      t.events.push(`runtime ${ctx.tunName} ${ctx.deviceId}`);
      setTimeout(() => t.stop.abort(), 10);
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      t.events.push('runtime stopped');
    };
    expect(await runGateway(t.options, runtime)).toBe(0);
    expect(t.events).toEqual(['cleanStale', 'setUp', 'runtime tun-fz gw-1', 'runtime stopped', 'tearDown']);
    expect(t.lines.at(-1)).toBe('info gateway stopped');
    expect(t.errors()).toEqual([]);
  });

  it('exits 1 with one error line when the runtime fails, after tearing down', async () => {
    const t = setup();
    const code = await runGateway(t.options, async (ctx) => {
      ctx.logger.info(`connecting with ${ctx.token}`);
      throw new Error(`portal refused token ${TOKEN}`);
    });
    expect(code).toBe(1);
    expect(t.events).toEqual(['cleanStale', 'setUp', 'tearDown']);
    expect(t.errors()).toEqual(['error gateway stopped: portal refused token [redacted]']);
    expect(t.lines.join('\n')).not.toContain(TOKEN);
  });

  it('exits 0 when the runtime finishes on its own', async () => {
    const t = setup();
    let aborted = false;
    expect(
      await runGateway(t.options, async (ctx) => {
        ctx.signal.addEventListener('abort', () => (aborted = true));
      }),
    ).toBe(0);
    expect(aborted).toBe(true);
    expect(t.lines).toContain('info connection runtime finished');
  });

  it('exits 1 when the host set-up fails, and undoes what it can without running the runtime', async () => {
    const t = setup({
      setUp: async () => {
        throw new Error('/usr/sbin/nft -f - failed (exit code 1): Operation not permitted');
      },
    });
    let ran = false;
    const code = await runGateway(t.options, async () => void (ran = true));
    expect(code).toBe(1);
    expect(ran).toBe(false);
    expect(t.events).toEqual(['cleanStale', 'tearDown']);
    expect(t.errors()).toEqual([
      'error gateway stopped: host set-up failed: /usr/sbin/nft -f - failed (exit code 1): Operation not permitted',
    ]);
  });

  it('does not wait forever for a runtime that ignores the stop', async () => {
    const t = setup();
    const code = await runGateway(t.options, async () => {
      setTimeout(() => t.stop.abort(), 5);
      await new Promise(() => {});
    });
    expect(code).toBe(0);
    expect(t.events).toEqual(['cleanStale', 'setUp', 'tearDown']);
    expect(t.lines).toContain(
      'warn connection runtime did not stop within 200 ms; removing host changes anyway',
    );
  });

  it('exits 1 when the host changes cannot be removed', async () => {
    const t = setup({
      tearDown: async () => {
        throw new Error('nft -f - failed');
      },
    });
    t.stop.abort();
    expect(await runGateway(t.options, async () => {})).toBe(1);
    expect(t.errors()).toEqual([
      'error could not remove host changes: nft -f - failed; the next start retries',
    ]);
  });
});
