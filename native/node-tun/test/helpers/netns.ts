/**
 * Runs test scenarios as child processes inside throw-away network namespaces, so TUN devices,
 * addresses and qdiscs never touch the host's network. Needs root and iproute2.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('../fixtures/child.ts', import.meta.url));
const created = new Set<string>();
let counter = 0;

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

function removeAll(): void {
  for (const ns of created) spawnSync('ip', ['netns', 'del', ns]);
  created.clear();
}
process.once('exit', removeAll);

/** Creates a namespace with loopback up; `dispose` removes it (and every device in it). */
export function createNetns(): { name: string; dispose: () => void } {
  const name = `ntun-${process.pid}-${counter++}`;
  ip(['netns', 'add', name]);
  created.add(name);
  ip(['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    dispose: () => {
      spawnSync('ip', ['netns', 'del', name]);
      created.delete(name);
    },
  };
}

export interface ChildResult<T> {
  result: T;
  stderr: string;
}

/**
 * Runs `test/fixtures/child.ts <scenario>` in the namespace (fresh one unless given) and returns
 * the JSON it prints on its `RESULT ` line.
 */
export async function runScenario<T>(scenario: string, options: { timeoutMs?: number } = {}): Promise<T> {
  const ns = createNetns();
  try {
    return await runIn<T>(ns.name, scenario, options.timeoutMs ?? 20_000);
  } finally {
    ns.dispose();
  }
}

function runIn<T>(ns: string, scenario: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--expose-gc', '--import', 'tsx', CHILD, scenario],
      { cwd: PACKAGE_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || line === undefined) {
        reject(new Error(`scenario ${scenario}: exit ${String(code ?? signal)}\n${stdout}\n${stderr}`));
        return;
      }
      resolve(JSON.parse(line.slice('RESULT '.length)) as T);
    });
  });
}
