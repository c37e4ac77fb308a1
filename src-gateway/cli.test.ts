/** The gateway CLI: flags and environment, token files, device id, usage errors and exit codes. */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_STATE_DIR,
  DEFAULT_TUN_NAME,
  loadOrCreateDeviceId,
  main,
  parseCli,
  readTokenFile,
  resolveToken,
  USAGE,
  UsageError,
  type CliEnv,
  type ParsedOptions,
} from './cli.js';
import type { GatewayHost, GatewayRuntimeContext } from './gateway.js';

const TOKEN = 'gw-token.SECRET.abcdef0123456789';
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fz-gateway-cli-'));
  dirs.push(dir);
  return dir;
}

function tokenFile(mode: number, content = `${TOKEN}\n`): string {
  const path = join(tempDir(), 'token');
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

function run(argv: string[], env: CliEnv = {}): ParsedOptions {
  const command = parseCli(argv, env);
  if (command.kind !== 'run') throw new Error(`expected run, got ${command.kind}`);
  return command.options;
}

function usageError(argv: string[], env: CliEnv = {}): string {
  try {
    parseCli(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a usage error');
}

const BASE_ENV: CliEnv = { FIREZONE_API_URL: 'wss://portal.example.test', FIREZONE_TOKEN: TOKEN };

describe('parseCli', () => {
  it('takes a Firezone environment as it is', () => {
    const options = run([], {
      FIREZONE_API_URL: 'wss://api.example.test',
      FIREZONE_TOKEN: TOKEN,
      FIREZONE_ID: 'a6e1f0c4-0000-4000-8000-000000000001',
      FIREZONE_NAME: 'gw-eu-1',
      RUST_LOG: 'firezone_gateway=debug,phoenix_channel=trace,info',
      FIREZONE_LOG_FORMAT: 'json',
    });
    expect(options).toEqual({
      apiUrl: 'wss://api.example.test',
      tokenSource: { kind: 'value', origin: 'FIREZONE_TOKEN' },
      id: 'a6e1f0c4-0000-4000-8000-000000000001',
      name: 'gw-eu-1',
      logLevel: 'debug',
      logFormat: 'json',
      tunName: DEFAULT_TUN_NAME,
      masquerade: true,
      stateDir: DEFAULT_STATE_DIR,
      notes: [],
    });
  });

  it('has defaults for everything but the portal URL and the token', () => {
    const options = run([], BASE_ENV);
    expect(options).toMatchObject({
      id: undefined,
      name: hostname(),
      logLevel: 'info',
      logFormat: 'human',
      tunName: 'tun-firezone',
      masquerade: true,
      stateDir: '/var/lib/fz-gateway',
    });
    // Under systemd, StateDirectory= sets $STATE_DIRECTORY.
    expect(run([], { ...BASE_ENV, STATE_DIRECTORY: '/var/lib/fz-gateway2:/var/lib/other' }).stateDir).toBe(
      '/var/lib/fz-gateway2',
    );
  });

  it('lets flags win over their variables', () => {
    const options = run(
      [
        '-u',
        'https://portal.flag.test/api',
        '--id',
        'flag-id',
        '-n',
        'flag-name',
        '--log-level',
        'warn',
        '--log-format',
        'human',
        '--tun-name',
        'tun-gw0',
        '--state-dir',
        '/srv/gw',
        '--no-masquerade',
      ],
      {
        ...BASE_ENV,
        FIREZONE_ID: 'env-id',
        FIREZONE_NAME: 'env-name',
        RUST_LOG: 'debug',
        FIREZONE_LOG_FORMAT: 'json',
        FZ_GATEWAY_TUN_NAME: 'tun-env',
        FZ_GATEWAY_STATE_DIR: '/srv/env',
      },
    );
    expect(options).toMatchObject({
      apiUrl: 'https://portal.flag.test/api',
      id: 'flag-id',
      name: 'flag-name',
      logLevel: 'warn',
      logFormat: 'human',
      tunName: 'tun-gw0',
      stateDir: '/srv/gw',
      masquerade: false,
    });
    expect(run([], { ...BASE_ENV, FZ_GATEWAY_NO_MASQUERADE: 'true' }).masquerade).toBe(false);
    expect(run([], { ...BASE_ENV, FZ_GATEWAY_NO_MASQUERADE: '0' }).masquerade).toBe(true);
    expect(usageError([], { ...BASE_ENV, FZ_GATEWAY_NO_MASQUERADE: 'maybe' })).toMatch(
      /FZ_GATEWAY_NO_MASQUERADE="maybe" is not a boolean/,
    );
  });

  it('reads RUST_LOG-style levels', () => {
    const level = (text: string): string => run(['--log-level', text], BASE_ENV).logLevel;
    expect(level('error')).toBe('error');
    expect(level('TRACE')).toBe('debug');
    expect(level('off')).toBe('error');
    expect(level('info,firezone_gateway=debug')).toBe('debug');
    expect(level('fz_gateway=warn,debug')).toBe('warn');
    expect(level('phoenix_channel=debug')).toBe('info');
    expect(run([], { ...BASE_ENV, RUST_LOG: 'phoenix_channel=debug,wire' }).logLevel).toBe('info');
    expect(run([], { ...BASE_ENV, RUST_LOG: 'warn' }).logLevel).toBe('warn');
    expect(usageError(['--log-level', 'loud'], BASE_ENV)).toMatch(/--log-level: "loud" is not a log level/);
    expect(usageError([], { ...BASE_ENV, RUST_LOG: 'gateway=chatty' })).toMatch(
      /RUST_LOG: "chatty" in "gateway=chatty" is not a log level/,
    );
  });

  it('finds the token in --token-file, FIREZONE_TOKEN (a value or a file) or a systemd credential', () => {
    expect(run(['--token-file', '/etc/fz/token'], BASE_ENV)).toMatchObject({
      tokenSource: { kind: 'file', path: '/etc/fz/token', origin: '--token-file', checkPermissions: true },
      notes: ['FIREZONE_TOKEN is set too; --token-file takes precedence'],
    });
    expect(run([], { ...BASE_ENV, FIREZONE_TOKEN: '/run/secrets/gw' }).tokenSource).toEqual({
      kind: 'file',
      path: '/run/secrets/gw',
      origin: 'FIREZONE_TOKEN',
      checkPermissions: true,
    });
    expect(
      run([], { FIREZONE_API_URL: 'wss://p.test', CREDENTIALS_DIRECTORY: '/run/credentials/fz.service' })
        .tokenSource,
    ).toEqual({
      kind: 'file',
      path: '/run/credentials/fz.service/FIREZONE_TOKEN',
      origin: 'systemd credential FIREZONE_TOKEN',
      checkPermissions: false,
    });
  });

  it('explains what is wrong, never echoing a token', () => {
    expect(usageError([], { FIREZONE_TOKEN: TOKEN })).toMatch(
      /portal URL is required: --api-url <url> or FIREZONE_API_URL/,
    );
    expect(usageError(['--api-url', 'not a url'], BASE_ENV)).toMatch(/--api-url: .*not a valid URL/);
    expect(usageError([], { ...BASE_ENV, FIREZONE_API_URL: 'ftp://portal.test' })).toMatch(
      /FIREZONE_API_URL: portal url must be ws\(s\):\/\/ or http\(s\):\/\/, got "ftp:"/,
    );
    expect(usageError(['--api-url', 'wss://p.test/?x=1'], BASE_ENV)).toMatch(/must not carry a query/);
    expect(usageError(['--api-url', 'wss://u:p@p.test'], BASE_ENV)).toMatch(/must not carry credentials/);
    expect(usageError(['--api-url', 'wss://p.test'])).toMatch(
      /no token: set FIREZONE_TOKEN, use --token-file <file>, or load the systemd credential FIREZONE_TOKEN/,
    );
    expect(usageError(['--token', TOKEN], BASE_ENV)).toMatch(/there is no --token/);
    const positional = usageError([TOKEN], BASE_ENV);
    expect(positional).toMatch(/unexpected argument on the command line \(not shown/);
    expect(positional).not.toContain(TOKEN);
    expect(usageError(['--frobnicate'], BASE_ENV)).toMatch(/Unknown option '--frobnicate'/);
    expect(usageError(['--log-format', 'xml'], BASE_ENV)).toMatch(/--log-format: "xml" is not a log format/);
    expect(usageError(['--tun-name', 'much-too-long-name0'], BASE_ENV)).toMatch(
      /--tun-name: invalid interface name/,
    );
    expect(usageError([], { ...BASE_ENV, FZ_GATEWAY_TUN_NAME: 'a/b' })).toMatch(
      /FZ_GATEWAY_TUN_NAME: invalid/,
    );
    expect(usageError(['--id', 'has space'], BASE_ENV)).toMatch(/device id .* printable ASCII/);
  });

  it('answers --help and --version', () => {
    expect(parseCli(['--help'], {})).toEqual({ kind: 'help' });
    expect(parseCli(['-V'], {})).toEqual({ kind: 'version' });
    for (const name of [
      'FIREZONE_API_URL',
      'FIREZONE_TOKEN',
      'FIREZONE_ID',
      'FIREZONE_NAME',
      'RUST_LOG',
      'FIREZONE_LOG_FORMAT',
      'FZ_GATEWAY_TUN_NAME',
      'FZ_GATEWAY_STATE_DIR',
      '--no-masquerade',
    ]) {
      expect(USAGE).toContain(name);
    }
  });
});

describe('token files', () => {
  it('reads an owner-only file, trimmed', () => {
    expect(readTokenFile(tokenFile(0o600))).toBe(TOKEN);
    expect(readTokenFile(tokenFile(0o400, `  ${TOKEN}\r\n\n`))).toBe(TOKEN);
  });

  it('refuses files that group or others can access, like ssh does', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      const path = tokenFile(mode);
      const octal = `0${mode.toString(8)}`;
      expect(() => readTokenFile(path)).toThrow(
        `permissions ${octal} for the token file ${path} are too open: it must not be accessible by group or others (chmod 600 ${path})`,
      );
    }
  });

  it('names the file and the problem, never the content', () => {
    const dir = tempDir();
    expect(() => readTokenFile(join(dir, 'missing'))).toThrow(
      new RegExp(`cannot read the token file ${dir}/missing \\(--token-file\\): ENOENT`),
    );
    mkdirSync(join(dir, 'sub'), { mode: 0o700 });
    expect(() => readTokenFile(join(dir, 'sub'))).toThrow(/is not a regular file/);
    expect(() => readTokenFile(tokenFile(0o600, '\n \n'))).toThrow(/is empty/);
    const spaced = tokenFile(0o600, `${TOKEN} extra words\n`);
    expect(() => readTokenFile(spaced)).toThrow(/holds characters a token cannot have/);
    try {
      readTokenFile(spaced);
    } catch (err) {
      expect((err as Error).message).not.toContain(TOKEN);
    }
  });

  it('resolves the token from its source', () => {
    expect(resolveToken({ kind: 'value', origin: 'FIREZONE_TOKEN' }, { FIREZONE_TOKEN: ` ${TOKEN}\n` })).toBe(
      TOKEN,
    );
    expect(() =>
      resolveToken({ kind: 'value', origin: 'FIREZONE_TOKEN' }, { FIREZONE_TOKEN: 'a b' }),
    ).toThrow(UsageError);
    const path = tokenFile(0o600);
    expect(resolveToken({ kind: 'file', path, origin: 'FIREZONE_TOKEN', checkPermissions: true }, {})).toBe(
      TOKEN,
    );
    // A systemd credential: readable by the unit's user through an ACL, which shows as group bits.
    const credential = tokenFile(0o440);
    const source = { kind: 'file', path: credential, origin: 'systemd credential FIREZONE_TOKEN' } as const;
    expect(resolveToken({ ...source, checkPermissions: false }, {})).toBe(TOKEN);
    expect(() => resolveToken({ ...source, checkPermissions: true }, {})).toThrow(/permissions 0440/);
  });
});

describe('device id', () => {
  it('is created once, kept, and never silently replaced', () => {
    const stateDir = join(tempDir(), 'state');
    const first = loadOrCreateDeviceId(stateDir);
    expect(first.created).toBe(true);
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(stateDir, 'id'), 'utf8')).toBe(`${first.id}\n`);
    expect(loadOrCreateDeviceId(stateDir)).toEqual({ id: first.id, created: false });
    writeFileSync(join(stateDir, 'id'), 'not an id\n');
    expect(() => loadOrCreateDeviceId(stateDir)).toThrow(/does not hold a valid id; remove it/);
  });
});

describe('main', () => {
  const fakeHost = (): GatewayHost & { calls: string[] } => {
    const calls: string[] = [];
    return {
      calls,
      cleanStale: async () => (calls.push('cleanStale'), false),
      setUp: async () => calls.push('setUp'),
      tearDown: async () => void calls.push('tearDown'),
    };
  };

  async function runMain(
    argv: string[],
    env: CliEnv,
    runtime?: (ctx: GatewayRuntimeContext) => Promise<void>,
    netAdmin = true,
  ) {
    let stdout = '';
    let stderr = '';
    let logs = '';
    const host = fakeHost();
    const code = await main(argv, env, {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      logWrite: (l) => (logs += l),
      hasNetAdmin: () => netAdmin,
      host,
      handleProcessSignals: false,
      ...(runtime ? { runtime } : {}),
    });
    return { code, stdout, stderr, logs, host };
  }

  it('prints the help with the environment variables, exit 0', async () => {
    const res = await runMain(['--help'], {});
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(USAGE);
  });

  it('exits 2 on usage errors, with the reason on stderr', async () => {
    const res = await runMain(['--api-url', 'nope'], { FIREZONE_TOKEN: TOKEN });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^fz-gateway: --api-url: portal url "nope" is not a valid URL\nTry /);
    const open = tokenFile(0o644);
    const refused = await runMain(['--api-url', 'wss://p.test', '--token-file', open], {});
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('permissions 0644');
    expect(refused.host.calls).toEqual([]);
  });

  it('hands the runtime its context, and the token never reaches the logs', async () => {
    const stateDir = join(tempDir(), 'state');
    let seen: GatewayRuntimeContext | undefined;
    const res = await runMain(
      ['--api-url', 'wss://p.test', '--token-file', tokenFile(0o600), '--state-dir', stateDir, '-n', 'gw1'],
      {},
      async (ctx) => {
        seen = ctx;
        ctx.logger.info(`runtime saw ${ctx.token}`, { token: ctx.token });
      },
    );
    expect(res.code).toBe(0);
    expect(res.host.calls).toEqual(['cleanStale', 'setUp', 'tearDown']);
    expect(seen).toMatchObject({
      tunName: 'tun-firezone',
      portalUrl: 'wss://p.test',
      token: TOKEN,
      name: 'gw1',
    });
    expect(seen?.deviceId).toBe(readFileSync(join(stateDir, 'id'), 'utf8').trim());
    expect(seen?.signal.aborted).toBe(true);
    expect(res.logs).toContain('fz-gateway starting');
    expect(res.logs).toContain('runtime saw [redacted]');
    expect(res.logs).not.toContain(TOKEN);
  });

  it('exits 1 with one error line on a fatal runtime error, and without CAP_NET_ADMIN', async () => {
    const env = { ...BASE_ENV, FIREZONE_ID: 'gw-id' };
    const res = await runMain(['--log-format', 'json'], env, async () => {
      throw new Error(`portal refused the token ${TOKEN}`);
    });
    expect(res.code).toBe(1);
    const errors = res.logs
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: string; msg: string })
      .filter((r) => r.level === 'error');
    expect(errors).toEqual([
      expect.objectContaining({ msg: 'gateway stopped: portal refused the token [redacted]' }),
    ]);
    expect(res.host.calls).toEqual(['cleanStale', 'setUp', 'tearDown']);

    const denied = await runMain([], env, undefined, false);
    expect(denied.code).toBe(1);
    expect(denied.logs).toMatch(/ERROR fz-gateway needs to run as root or with the CAP_NET_ADMIN capability/);
    expect(denied.host.calls).toEqual([]);
  });
});
