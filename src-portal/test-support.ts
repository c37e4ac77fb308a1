/** Helpers of the dev-portal tests: temp configs, a portal on an ephemeral port, sessions. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultBackend } from '../src-engine/wireguard/crypto/index.js';
import type { ClientIngressMessage, GatewayIngressMessage } from '../src-engine/portal/messages/parse.js';
import { PortalSession } from '../src-engine/portal/session.js';
import type { PortalRole } from '../src-engine/portal/session-core.js';
import { createJsonLogger, memoryLogger } from './log.js';
import { hashPassword } from './passwords.js';
import { DevPortal, type DevPortalOptions } from './portal.js';

export const CLIENT_UA = 'Debian/12 gui-client/0.1.0 (x86_64; 6.1.0)';
export const GATEWAY_UA = 'Debian/12 gateway/0.1.0 (x86_64; 6.1.0)';
export const GATEWAY_TOKEN = 'test-gateway-token-0001';
export const PASSWORD = 'correct horse battery';

/** Fast reconnects for tests (the production defaults wait up to a minute). */
export const FAST_BACKOFF = {
  initialIntervalMs: 50,
  maxIntervalMs: 200,
  initialPhaseIntervalMs: 50,
  initialPhaseMaxElapsedMs: 5_000,
} as const;

let cheapHash: Promise<string> | undefined;
/** A scrypt hash of PASSWORD with a small cost, so tests stay fast. */
export function passwordHash(): Promise<string> {
  cheapHash ??= hashPassword(PASSWORD, { N: 4096, r: 8, p: 1 });
  return cheapHash;
}

export interface ConfigParts {
  readonly extraResources?: string;
  readonly extraPolicies?: string;
  readonly ttl?: string;
  readonly wikiFilterPorts?: string;
}

export async function configYaml(parts: ConfigParts = {}): Promise<string> {
  const hash = await passwordHash();
  return `account:
  slug: acme
  name: Acme Test
client_token_ttl: ${parts.ttl ?? '1h'}
users:
  - email: alice@acme.test
    name: Alice
    password_hash: "${hash}"
    groups: [engineering, everyone]
  - email: bob@acme.test
    name: Bob
    password_hash: "${hash}"
    groups: [everyone]
groups:
  - name: engineering
  - name: everyone
sites:
  - name: HQ
    gateway_tokens:
      - token: ${GATEWAY_TOKEN}
  - name: Lab
resources:
  - name: Wiki
    type: dns
    address: "*.wiki.acme.test"
    site: HQ
    filters:
      - protocol: tcp
        ports: [${parts.wikiFilterPorts ?? '"443"'}]
  - name: LAN
    type: cidr
    address: 10.20.0.0/16
    site: HQ
  - name: Lab hosts
    type: cidr
    address: 172.16.5.0/24
    site: Lab
${parts.extraResources ?? ''}
policies:
  - group: everyone
    resource: Wiki
  - group: engineering
    resource: LAN
  - group: engineering
    resource: Lab hosts
${parts.extraPolicies ?? ''}
relays:
  - name: relay-1
    urls: ["turn:127.0.0.1:3478"]
    secret: test-relay-secret
dns:
  upstream_do53: [1.1.1.1]
  search_domain: acme.test
`;
}

export interface TestPortal {
  readonly portal: DevPortal;
  readonly dir: string;
  readonly configFile: string;
  readonly logs: string[];
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'fz-portal-test-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export async function startPortal(
  dir: string,
  options: Partial<DevPortalOptions> & { readonly config?: string; readonly logs?: string[] } = {},
): Promise<TestPortal> {
  const configFile = join(dir, 'portal.yaml');
  if (options.config !== undefined) writeFileSync(configFile, options.config);
  const memory = memoryLogger('debug');
  const logs = options.logs ?? memory.lines;
  const logger = options.logs ? memoryLoggerInto(options.logs) : memory.logger;
  const portal = await DevPortal.start({
    configFile,
    port: 0,
    host: '127.0.0.1',
    dataDir: join(dir, 'data'),
    logger,
    watchConfig: false,
    revocationPollMs: 50,
    ...options,
  });
  return { portal, dir, configFile, logs };
}

function memoryLoggerInto(lines: string[]) {
  return createJsonLogger({ level: 'debug', write: (line) => lines.push(line) });
}

const crypto = defaultBackend();

export function newPublicKey(): string {
  return Buffer.from(crypto.x25519PublicKey(randomBytes(32))).toString('base64');
}

export type IngressOf<R extends PortalRole> = R extends 'client'
  ? ClientIngressMessage
  : GatewayIngressMessage;

export interface TestSession<R extends PortalRole> {
  readonly session: PortalSession<R>;
  readonly messages: IngressOf<R>[];
  readonly logs: string[];
  /** Resolves with the first message of `event` received after index `from` (default: any). */
  next<E extends IngressOf<R>['event']>(
    event: E,
    timeoutMs?: number,
    from?: number,
  ): Promise<Extract<IngressOf<R>, { event: E }>>;
}

export function openSession<R extends PortalRole>(
  url: string,
  role: R,
  token: string,
  options: { deviceId?: string; publicKey?: string; logs?: string[]; userAgent?: string } = {},
): TestSession<R> {
  const memory = memoryLogger('debug');
  const logs = options.logs ?? memory.lines;
  const session = new PortalSession<R>({
    role,
    url,
    token,
    publicKey: options.publicKey ?? newPublicKey(),
    deviceId: options.deviceId ?? `${role}-${randomBytes(4).toString('hex')}`,
    userAgent: options.userAgent ?? (role === 'client' ? CLIENT_UA : GATEWAY_UA),
    backoff: FAST_BACKOFF,
    logger: options.logs ? memoryLoggerInto(options.logs) : memory.logger,
    heartbeatIntervalMs: 1_000,
  });
  const messages: IngressOf<R>[] = [];
  session.on('message', (message) => messages.push(message as IngressOf<R>));
  return {
    session,
    messages,
    logs,
    next: (event, timeoutMs = 5_000, from = 0) =>
      waitFor(
        () => messages.slice(from).find((message) => message.event === event),
        timeoutMs,
        `message ${String(event)}`,
      ) as never,
  };
}

/** Polls `probe` every 10 ms until it returns something other than undefined/false. */
export async function waitFor<T>(
  probe: () => T | undefined | false,
  timeoutMs = 5_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function writeConfig(file: string, text: string): void {
  writeFileSync(file, text);
}
