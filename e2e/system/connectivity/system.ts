/**
 * Our whole system on the connectivity topology: the dev portal on the portal host, coturn on the
 * relay host (started by the topology), the headless gateway on each gateway host and the
 * headless client on the client host, each a real process in its namespace. Scenarios drive it
 * with real traffic (ping, curl, iperf3) and read the client's status socket.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { hashPassword } from '../../../src-portal/passwords.js';
import { readStatus } from '../../../src-client/status.js';
import type { ClientStatus } from '../../../src-engine/client/client-runtime.js';
import type { NsProcess } from '../netns.js';
import { ADDRESSES, type ConnectivityTopology } from './topology.js';

export const PORTAL_PORT = 8080;
export const PORTAL_URL = `http://${ADDRESSES.portal.ipv4}:${PORTAL_PORT}`;
export const GATEWAY_TOKEN = 'system-test-gateway-token-0001';
/** In resource A (10.203.0.0/26): the resource host's main address. */
export const RESOURCE_IP = '10.203.0.50';
/** In resource B (10.203.0.64/26): a second address of the resource host. */
export const RESOURCE_B_IP = '10.203.0.100';
/** In the resource nobody has a policy for (10.203.0.128/25): nothing may reach it. */
export const FORBIDDEN_IP = '10.203.0.200';

const REPO = new URL('../../../', import.meta.url).pathname;
const TSX_LOADER = new URL('../../../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

export interface SystemOptions {
  /** Whether the LAN policy exists (default true). */
  readonly lanPolicy?: boolean;
  /** More resources and policies of the portal config (YAML flow mappings, one per entry). */
  readonly resources?: readonly string[];
  readonly policies?: readonly string[];
  /** The portal's upstream Do53 resolvers (default [10.203.0.50]; [] for none). */
  readonly upstreamDo53?: readonly string[];
  /**
   * The client's `--dns-control` (default off). Use resolv-conf only after
   * `topo.setResolvConf('client', …)`: then the namespace's own file is the one rewritten.
   */
  readonly clientDnsControl?: 'off' | 'resolv-conf';
  /** More client flags (e.g. --internet-resource). */
  readonly clientArgs?: readonly string[];
  /** More environment of the client process (e.g. NODE_OPTIONS for the memory benchmark). */
  readonly clientEnv?: Readonly<Record<string, string>>;
  /** The portal's deep-link prefix for the desktop app's sign-in (`<scheme>://`). */
  readonly clientHandler?: string;
  /** How long the client's token lives (`mint-token --ttl`, e.g. `20s`); default the portal's. */
  readonly tokenTtl?: string;
}

export class System {
  portal!: NsProcess;
  readonly gateways: (NsProcess | undefined)[] = [];
  client: NsProcess | undefined;
  readonly dir: string;
  readonly configFile: string;
  private token = '';

  constructor(
    readonly topo: ConnectivityTopology,
    private readonly options: SystemOptions = {},
  ) {
    this.dir = join(topo.tmpDir, 'system');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.configFile = join(this.dir, 'portal.yaml');
  }

  get statusSocket(): string {
    return join(this.dir, 'client', 'status.sock');
  }

  async writeConfig(): Promise<void> {
    const relay = this.topo.relay;
    const hash = await hashPassword('system-test-password', { N: 4096, r: 8, p: 1 });
    const lanPolicy = this.options.lanPolicy ?? true;
    writeFileSync(
      this.configFile,
      `account: { slug: acme, name: Acme }
${this.options.clientHandler ? `client_handler: '${this.options.clientHandler}'\n` : ''}users:
  - { email: alice@acme.test, name: Alice, password_hash: "${hash}", groups: [engineering] }
groups:
  - name: engineering
sites:
  - name: HQ
    gateway_tokens:
      - token: ${GATEWAY_TOKEN}
resources:
  - { name: Resources A, type: cidr, address: 10.203.0.0/26, site: HQ }
  - { name: Resources B, type: cidr, address: 10.203.0.64/26, site: HQ }
  - { name: Forbidden, type: cidr, address: 10.203.0.128/25, site: HQ }
${(this.options.resources ?? []).map((line) => `  - ${line}\n`).join('')}policies:
${lanPolicy ? '  - { group: engineering, resource: Resources A }\n' : ''}  - { group: engineering, resource: Resources B }
${(this.options.policies ?? []).map((line) => `  - ${line}\n`).join('')}relays:
${relay ? `  - { name: relay-1, urls: ["turn:${relay.address}:3478"], secret: ${relay.secret} }` : '  []'}
dns:
  upstream_do53: [${(this.options.upstreamDo53 ?? ['10.203.0.50']).join(', ')}]
`,
      { mode: 0o600 },
    );
  }

  /** Rewrites the portal's config (the portal watches it and reloads within a second). */
  async setLanPolicy(enabled: boolean): Promise<void> {
    (this.options as { lanPolicy?: boolean }).lanPolicy = enabled;
    await this.writeConfig();
  }

  async startPortal(): Promise<void> {
    await this.writeConfig();
    this.portal = this.topo.spawnTsx('portal', join(REPO, 'src-portal/cli.ts'), [
      'serve',
      '--config',
      this.configFile,
      '--host',
      ADDRESSES.portal.ipv4,
      '--port',
      String(PORTAL_PORT),
      '--data-dir',
      join(this.dir, 'portal-data'),
    ]);
    await this.waitForOutput(this.portal, /dev portal listening/, 20_000, 'the portal to listen');
    const minted = await this.topo.portal.exec(
      process.execPath,
      [
        '--import',
        TSX_LOADER,
        join(REPO, 'src-portal/cli.ts'),
        'mint-token',
        '--config',
        this.configFile,
        '--data-dir',
        join(this.dir, 'portal-data'),
        '--email',
        'alice@acme.test',
        ...(this.options.tokenTtl ? ['--ttl', this.options.tokenTtl] : []),
      ],
      { cwd: REPO },
    );
    this.token = minted.stdout.trim();
    if (!this.token) throw new Error(`no token minted: ${minted.stderr}`);
  }

  async startGateway(i: number): Promise<NsProcess> {
    const dir = join(this.dir, `gateway${i}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${GATEWAY_TOKEN}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
    const proc = this.topo.spawnTsx(
      this.topo.gateway(i),
      join(REPO, 'src-gateway/cli.ts'),
      [
        '--api-url',
        PORTAL_URL,
        '--token-file',
        tokenFile,
        '--state-dir',
        dir,
        '--name',
        `gateway-${i}`,
        '--log-level',
        'debug',
      ],
      {},
      { cwd: REPO },
    );
    this.gateways[i] = proc;
    await this.waitForOutput(proc, /gateway engine started/, 30_000, `gateway ${i} to start`);
    return proc;
  }

  async startClient(): Promise<NsProcess> {
    const dir = join(this.dir, 'client');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${this.token}\n`, { mode: 0o600 });
    this.client = this.topo.spawnTsx(
      'client',
      join(REPO, 'src-client/cli.ts'),
      [
        'run',
        '--api-url',
        PORTAL_URL,
        '--token-file',
        tokenFile,
        '--state-dir',
        dir,
        '--status-socket',
        this.statusSocket,
        '--dns-control',
        this.options.clientDnsControl ?? 'off',
        ...(this.options.clientArgs ?? []),
        '--log-level',
        'debug',
      ],
      { ...this.options.clientEnv },
      { cwd: REPO },
    );
    await this.waitForStatus(
      (s) => s.portal.status === 'joined' && s.interface !== undefined,
      30_000,
      'the client to join',
    );
    return this.client;
  }

  async start(gateways = 1): Promise<void> {
    // Resources B and Forbidden live on the resource host too, under further addresses.
    for (const ip of [RESOURCE_B_IP, FORBIDDEN_IP]) {
      await this.topo.resourceHost.ip('addr', 'add', `${ip}/24`, 'dev', 'eth0');
    }
    await this.startPortal();
    for (let i = 1; i <= gateways; i++) await this.startGateway(i);
    await this.startClient();
  }

  status(): Promise<ClientStatus> {
    return readStatus(this.statusSocket);
  }

  async waitForStatus(
    predicate: (s: ClientStatus) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<ClientStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: ClientStatus | undefined;
    let lastError = '';
    while (Date.now() < deadline) {
      try {
        last = await this.status();
        if (predicate(last)) return last;
      } catch (error) {
        lastError = (error as Error).message;
      }
      await delay(200);
    }
    throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last) ?? lastError}`);
  }

  async waitForOutput(proc: NsProcess, pattern: RegExp, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (pattern.test(proc.output)) return;
      if (!proc.running)
        throw new Error(`${proc.label} exited while waiting for ${what}:\n${proc.output.slice(-3000)}`);
      await delay(100);
    }
    throw new Error(`timed out waiting for ${what}:\n${proc.output.slice(-3000)}`);
  }

  /** Lines at warn level or above in our processes' output (a scenario fails on unexpected ones). */
  warnings(allowed: readonly RegExp[] = []): string[] {
    const procs = [this.portal, ...this.gateways, this.client].filter((p): p is NsProcess => p !== undefined);
    return procs.flatMap((p) =>
      p.output
        .split('\n')
        .filter((line) => /"level":"(warn|error)"|\b(WARN|ERROR)\b/.test(line))
        .filter((line) => !allowed.some((re) => re.test(line)))
        .map((line) => `${p.label}: ${line}`),
    );
  }
}
