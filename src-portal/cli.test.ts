/** The CLI: subcommands in-process, and `serve` as an operator runs it (`tsx src-portal/cli.ts`). */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from './cli.js';
import { verifyPassword } from './passwords.js';
import { configYaml, openSession, removeDir, tempDir, waitFor, writeConfig } from './test-support.js';

const TSX = join('node_modules', '.bin', 'tsx');
const CLI = join('src-portal', 'cli.ts');
const dirs: string[] = [];
afterEach(() => {
  dirs.splice(0).forEach(removeDir);
  vi.restoreAllMocks();
});

async function setup(): Promise<{ dir: string; config: string }> {
  const dir = tempDir();
  dirs.push(dir);
  const config = join(dir, 'portal.yaml');
  writeConfig(config, await configYaml());
  return { dir, config };
}

/** Runs `main` in-process and captures what it writes. */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('portal CLI', () => {
  it('mints, lists and revokes client tokens; explains bad usage', async () => {
    const { config } = await setup();
    const minted = await cli(['mint-token', '--config', config, '--email', 'alice@acme.test', '--ttl', '2h']);
    expect(minted.code).toBe(0);
    expect(minted.stdout).toMatch(/^\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{43}\n$/);
    const id = /^token ([A-Za-z0-9_-]{16}) for alice@acme.test, expires /.exec(minted.stderr)![1]!;

    const listed = await cli(['list-tokens', '--config', config]);
    expect(listed.stdout).toContain(`${id}\talice@acme.test\tactive`);
    expect(listed.stdout).not.toContain(minted.stdout.trim());
    expect(await cli(['revoke-token', '--config', config, '--token-id', id])).toMatchObject({
      code: 0,
      stdout: `${id}\n`,
    });
    expect((await cli(['list-tokens', '--config', config, '--email', 'alice@acme.test'])).stdout).toContain(
      '\trevoked\t',
    );

    expect(await cli(['mint-token', '--config', config, '--email', 'nobody@acme.test'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('no user with email nobody@acme.test'),
    });
    expect(await cli(['mint-token', '--config', config, '--colour', 'red'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/Unknown option '--colour'/),
    });
    expect(await cli(['mint-token', '--config', config])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--email'),
    });
    expect(await cli(['revoke-token', '--config', config])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('exactly one'),
    });
    expect(await cli(['frobnicate'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown command "frobnicate"'),
    });
    expect(await cli(['check-config', '--config', config])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(': ok'),
    });
    writeConfig(config, 'account: { slug: acme }');
    expect(await cli(['check-config', '--config', config])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('account.name'),
    });

    const gateway = await cli(['gateway-token']);
    expect(gateway.code).toBe(0);
    expect(gateway.stderr).toMatch(/- sha256: [0-9a-f]{64}/);
  });

  it('serves until SIGTERM, sharing tokens minted by another process', async () => {
    const { config } = await setup();
    const mint = spawnSync(TSX, [CLI, 'mint-token', '--config', config, '--email', 'bob@acme.test'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(mint.status).toBe(0);
    const token = mint.stdout.trim();
    const child = spawn(TSX, [CLI, '--config', config, '--port', '0', '--no-watch'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const listening = await waitFor(
        () =>
          lines
            .map((line) => JSON.parse(line) as { msg: string; url?: string })
            .find((line) => line.msg === 'dev portal listening'),
        20_000,
        'the portal to listen',
      );
      const url = listening.url!;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const client = openSession(url, 'client', token);
      client.session.start();
      expect((await client.next('init')).payload.resources.map((resource) => resource.name)).toEqual([
        'Wiki',
      ]);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await waitFor(() => client.session.state.status === 'reconnecting', 5_000);
      await client.session.stop();
      expect(lines.some((line) => line.includes('"msg":"dev portal stopped"'))).toBe(true);
      expect(lines.every((line) => JSON.parse(line).level !== undefined)).toBe(true);
      expect(lines.join('\n')).not.toContain(token);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('hashes a password read from stdin', async () => {
    const hashed = spawnSync(TSX, [CLI, 'hash-password'], {
      encoding: 'utf8',
      input: 'a long enough password\n',
      timeout: 30_000,
    });
    expect(hashed.status).toBe(0);
    expect(await verifyPassword('a long enough password', hashed.stdout.trim())).toBe(true);
  });
});
