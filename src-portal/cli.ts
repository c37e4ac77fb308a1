/**
 * Command line of the dev portal (run with tsx):
 *
 *   portal [serve] --config <file> [--port 8080] [--host 127.0.0.1] [--data-dir <dir>] [--log-level info] [--no-watch]
 *   portal mint-token --config <file> --email <user> [--ttl 30d] [--data-dir <dir>]
 *   portal revoke-token --config <file> (--email <user> | --token-id <id>) [--data-dir <dir>]
 *   portal list-tokens --config <file> [--email <user>] [--data-dir <dir>]
 *   portal hash-password            (reads the password from the terminal or stdin)
 *   portal gateway-token            (a new random gateway token and its config entry)
 *   portal check-config --config <file>
 *
 * Only the requested value goes to stdout (a token, a hash), so scripts can capture it; every
 * message goes to stderr.
 */
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type PortalConfig } from './config.js';
import { createJsonLogger, isLogLevel } from './log.js';
import { hashPassword } from './passwords.js';
import { DevPortal, gatewayTokenId, mintClientTokenFor } from './portal.js';
import { PortalStore } from './store.js';
import { hashToken } from './tokens.js';

const USAGE = `usage: portal <command> [options]

commands:
  serve (default)   run the dev portal
                    --config <file> [--port 8080] [--host 127.0.0.1] [--data-dir <dir>]
                    [--log-level debug|info|warn|error] [--no-watch]
  mint-token        print a new client token for a user (headless sign-in)
                    --config <file> --email <user> [--ttl 30d] [--data-dir <dir>]
  revoke-token      revoke tokens; a running portal signs the sessions out within a second
                    --config <file> (--email <user> | --token-id <id>) [--data-dir <dir>]
  list-tokens       list client tokens (ids, owners, expiry; never the tokens)
                    --config <file> [--email <user>] [--data-dir <dir>]
  hash-password     read a password (terminal or stdin) and print its scrypt hash for the config
  gateway-token     print a new gateway token, and on stderr the config entry holding its hash
  check-config      validate a config file and print a summary
                    --config <file>
`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

const COMMON = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function requireConfig(path: string | undefined): PortalConfig {
  if (path === undefined) throw new UsageError('--config <file> is required');
  return loadConfig(path);
}

function dataDirFor(configFile: string, dataDir: string | undefined): string {
  return resolve(dataDir ?? join(dirname(resolve(configFile)), 'portal-data'));
}

function parseDuration(text: string): number {
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(text.trim());
  if (!match) throw new UsageError(`invalid duration "${text}" (e.g. 3600, 90m, 12h, 30d)`);
  const value =
    Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(match[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  if (value <= 0) throw new UsageError('duration must be positive');
  return value;
}

async function serve(args: string[]): Promise<number> {
  const values = parse(args, {
    ...COMMON,
    port: { type: 'string' },
    host: { type: 'string' },
    'log-level': { type: 'string' },
    'no-watch': { type: 'boolean' },
  });
  if (values.help) return usage(0);
  if (values.config === undefined) throw new UsageError('--config <file> is required');
  const level = values['log-level'] ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`--log-level must be debug, info, warn or error`);
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port must be 0-65535`);
  const logger = createJsonLogger({ level });
  const portal = await DevPortal.start({
    configFile: values.config,
    port,
    host: values.host ?? '127.0.0.1',
    dataDir: dataDirFor(values.config, values['data-dir']),
    logger,
    watchConfig: !values['no-watch'],
  });
  return new Promise<number>((resolveExit) => {
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) {
        logger.warn('second signal; exiting now', { signal });
        process.exit(1);
      }
      stopping = true;
      logger.info('signal received; shutting down', { signal });
      portal.stop().then(
        () => resolveExit(0),
        (error: unknown) => {
          logger.error('shutdown failed', { error });
          resolveExit(1);
        },
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', () => {
      logger.info('SIGHUP: reloading the config');
      portal.reload();
    });
    process.on('uncaughtException', (error) => {
      logger.error('uncaught exception; shutting down', { error });
      shutdown('uncaughtException');
    });
  });
}

function mintToken(args: string[]): number {
  const values = parse(args, { ...COMMON, email: { type: 'string' }, ttl: { type: 'string' } });
  if (values.help) return usage(0);
  const config = requireConfig(values.config);
  if (values.email === undefined) throw new UsageError('--email <user> is required');
  const ttl = values.ttl === undefined ? undefined : parseDuration(values.ttl);
  const store = new PortalStore(join(dataDirFor(config.file, values['data-dir']), 'portal.sqlite3'));
  try {
    const minted = mintClientTokenFor(config, store, values.email, ttl, 'cli');
    process.stderr.write(
      `token ${minted.id} for ${values.email}, expires ${new Date(minted.expiresAt * 1000).toISOString()}\n`,
    );
    process.stdout.write(`${minted.token}\n`);
    return 0;
  } finally {
    store.close();
  }
}

function revokeToken(args: string[]): number {
  const values = parse(args, { ...COMMON, email: { type: 'string' }, 'token-id': { type: 'string' } });
  if (values.help) return usage(0);
  const config = requireConfig(values.config);
  if ((values.email === undefined) === (values['token-id'] === undefined)) {
    throw new UsageError('give exactly one of --email <user> or --token-id <id>');
  }
  let actorId: string | undefined;
  if (values.email !== undefined) {
    actorId = config.users.find((user) => user.email === values.email!.toLowerCase())?.id;
    if (actorId === undefined) throw new UsageError(`no user ${values.email} in ${config.file}`);
  }
  const store = new PortalStore(join(dataDirFor(config.file, values['data-dir']), 'portal.sqlite3'));
  try {
    const ids = store.revokeTokens({
      ...(actorId !== undefined ? { actorId } : {}),
      ...(values['token-id'] !== undefined ? { tokenId: values['token-id'] } : {}),
    });
    process.stderr.write(ids.length === 0 ? 'no active token matched\n' : `revoked ${ids.length} token(s)\n`);
    for (const id of ids) process.stdout.write(`${id}\n`);
    return ids.length === 0 ? 1 : 0;
  } finally {
    store.close();
  }
}

function listTokens(args: string[]): number {
  const values = parse(args, { ...COMMON, email: { type: 'string' } });
  if (values.help) return usage(0);
  const config = requireConfig(values.config);
  const byId = new Map(config.users.map((user) => [user.id, user.email]));
  let actorId: string | undefined;
  if (values.email !== undefined) {
    actorId = config.users.find((user) => user.email === values.email!.toLowerCase())?.id;
    if (actorId === undefined) throw new UsageError(`no user ${values.email} in ${config.file}`);
  }
  const store = new PortalStore(join(dataDirFor(config.file, values['data-dir']), 'portal.sqlite3'));
  try {
    const now = Date.now() / 1000;
    for (const token of store.listTokens(actorId)) {
      const status = token.revokedAt !== null ? 'revoked' : token.expiresAt <= now ? 'expired' : 'active';
      process.stdout.write(
        `${token.id}\t${byId.get(token.actorId) ?? token.actorId}\t${status}\texpires ${new Date(token.expiresAt * 1000).toISOString()}\t${token.source}\n`,
      );
    }
    return 0;
  } finally {
    store.close();
  }
}

async function readPassword(): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  const ask = (prompt: string): Promise<string> =>
    new Promise((resolvePassword, reject) => {
      process.stderr.write(prompt);
      let input = '';
      stdin.setRawMode(true);
      stdin.resume();
      stdin.setEncoding('utf8');
      const onData = (text: string): void => {
        for (const char of text) {
          if (char === '\r' || char === '\n') {
            cleanup();
            process.stderr.write('\n');
            resolvePassword(input);
            return;
          }
          if (char === '\u0003') {
            cleanup();
            reject(new UsageError('cancelled'));
            return;
          }
          if (char === '\u007f' || char === '\b') input = input.slice(0, -1);
          else input += char;
        }
      };
      const cleanup = (): void => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
      };
      stdin.on('data', onData);
    });
  const first = await ask('password: ');
  const second = await ask('again: ');
  if (first !== second) throw new UsageError('the passwords differ');
  return first;
}

async function hashPasswordCommand(args: string[]): Promise<number> {
  const values = parse(args, { help: { type: 'boolean', short: 'h' } });
  if (values.help) return usage(0);
  const password = await readPassword();
  if (password.length < 8) throw new UsageError('the password must have at least 8 characters');
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}

function gatewayToken(args: string[]): number {
  const values = parse(args, { help: { type: 'boolean', short: 'h' } });
  if (values.help) return usage(0);
  const token = randomBytes(32).toString('base64url');
  process.stderr.write(
    `add to the site's gateway_tokens (id ${gatewayTokenId(token)}):\n      - sha256: ${hashToken(token)}\n`,
  );
  process.stdout.write(`${token}\n`);
  return 0;
}

function checkConfig(args: string[]): number {
  const values = parse(args, { ...COMMON });
  if (values.help) return usage(0);
  const config = requireConfig(values.config);
  const catalog = config.catalog;
  process.stdout.write(
    `${config.file}: ok — account "${catalog.account.slug}", ${config.users.length} users, ${catalog.groups.length} groups, ` +
      `${catalog.sites.length} sites, ${config.gatewayTokens.length} gateway tokens, ${catalog.resources.length} resources, ` +
      `${catalog.policies.length} policies, ${catalog.relays.length} relays\n`,
  );
  // OIDC providers are not contacted here: their metadata is fetched at the first sign-in.
  for (const provider of config.identityProviders) {
    const base = config.publicUrl ?? 'http://127.0.0.1:8080';
    const where = config.publicUrl === null ? ' (the listen address; set public_url otherwise)' : '';
    process.stdout.write(
      `identity provider "${provider.id}": issuer ${provider.issuer}, redirect URI ${base}/auth/oidc/${provider.id}/callback${where}\n`,
    );
    const env = provider.clientSecretSource.startsWith('env:')
      ? provider.clientSecretSource.slice(4)
      : undefined;
    if (env !== undefined && provider.clientSecret() === undefined)
      process.stderr.write(
        `note: ${env} is not set; sign-in through "${provider.id}" needs it at run time\n`,
      );
  }
  return 0;
}

function usage(code: number): number {
  (code === 0 ? process.stdout : process.stderr).write(USAGE);
  return code;
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  const command = first === undefined || first.startsWith('-') ? 'serve' : first;
  const args = first === undefined || first.startsWith('-') ? argv : rest;
  try {
    switch (command) {
      case 'serve':
        return await serve(args);
      case 'mint-token':
        return mintToken(args);
      case 'revoke-token':
        return revokeToken(args);
      case 'list-tokens':
        return listTokens(args);
      case 'hash-password':
        return await hashPasswordCommand(args);
      case 'gateway-token':
        return gatewayToken(args);
      case 'check-config':
        return checkConfig(args);
      case 'help':
        return usage(0);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`portal: ${error.message}\n\n`);
      return usage(2);
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`portal: ${error.message}\n`);
      return 2;
    }
    process.stderr.write(`portal: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`portal: ${String(error)}\n`);
      process.exit(1);
    },
  );
}
