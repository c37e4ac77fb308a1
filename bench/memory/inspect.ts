/**
 * Run inside a namespace by `bench/memory.ts`: attaches to the Node inspector listening on
 * 127.0.0.1:<port> (the process was started with `--inspect=127.0.0.1:<port>`) and, <count>
 * times 300 ms apart, collects garbage twice (the second pass frees what the first one's
 * finalizers released) and prints that process's `process.memoryUsage()` as one JSON line.
 * Several readings because RSS moves by megabytes from one to the next as freed pages go back
 * to the OS; the caller takes the median. Through the inspector rather than a status call so
 * that the measured program needs no code of ours.
 *
 *   node --import tsx bench/memory/inspect.ts <port> [count, default 5]
 */
import { setTimeout as delay } from 'node:timers/promises';
import WebSocket from 'ws';

const TIMEOUT_MS = 20_000;

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  const count = Number(process.argv[3] ?? 5);
  if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(count) || count <= 0) {
    throw new Error('usage: inspect.ts <port> [count]');
  }
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
    webSocketDebuggerUrl?: string;
  }[];
  const url = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = msg.id === undefined ? undefined : pending.get(msg.id);
    if (!waiter) return; // an event
    pending.delete(msg.id!);
    if (msg.error) waiter.reject(new Error(msg.error.message));
    else waiter.resolve(msg.result);
  });
  const call = (method: string, params: Record<string, unknown> = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  for (let i = 0; i < count; i++) {
    if (i > 0) await delay(300);
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const evaluated = (await call('Runtime.evaluate', {
      expression: 'JSON.stringify(process.memoryUsage())',
      returnByValue: true,
    })) as { result?: { value?: unknown }; exceptionDetails?: unknown };
    if (typeof evaluated.result?.value !== 'string') {
      throw new Error(`evaluating process.memoryUsage() failed: ${JSON.stringify(evaluated)}`);
    }
    console.log(evaluated.result.value);
  }
  ws.close();
}

const timer = setTimeout(() => {
  console.error(`no answer from the inspector within ${TIMEOUT_MS} ms`);
  process.exit(1);
}, TIMEOUT_MS);
main().then(
  () => clearTimeout(timer),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
