/**
 * `runGateway`: the headless gateway's life cycle around an injected connection runtime.
 *
 *   1. host set-up: take back what a gateway killed earlier left behind, then enable forwarding
 *      and install our nftables table (host-setup.ts);
 *   2. run the connection runtime until it ends or the gateway is told to stop (SIGINT, SIGTERM,
 *      SIGHUP or `options.signal`);
 *   3. tear the host set-up down, whatever happened.
 *
 * It returns the process exit code: 0 when stopped by a signal (or when the runtime finished on
 * its own), 1 on a fatal error, which is reported as one error line.
 */
import { redactingLogger, type Logger } from '../src-engine/portal/log.js';
import { HostSetup } from './host-setup.js';

/** What the connection runtime gets: everything it needs to join the portal and serve flows. */
export interface GatewayRuntimeContext {
  /** The TUN device to open (the host set-up's rules already name it). */
  readonly tunName: string;
  /** Portal API URL, as given (`ws(s)://` or `http(s)://`). */
  readonly portalUrl: string;
  /** The gateway token. Never log it; the logger below redacts it anyway. */
  readonly token: string;
  /** Stable device id (sent to the portal as `external_id`). */
  readonly deviceId: string;
  /** Name shown in the portal. */
  readonly name: string;
  readonly logger: Logger;
  /** Aborted when the gateway stops; the runtime then closes everything and resolves. */
  readonly signal: AbortSignal;
}

/**
 * The connection runtime: resolves when it has stopped (normally after `signal` aborts), rejects
 * on a fatal error (the portal refused the token, the TUN went away, …).
 */
export type GatewayRuntime = (ctx: GatewayRuntimeContext) => Promise<void>;

/** The host changes, as runGateway uses them (HostSetup; a fake in tests). */
export interface GatewayHost {
  cleanStale(): Promise<boolean>;
  setUp(): Promise<unknown>;
  tearDown(): Promise<void>;
}

export interface GatewayOptions {
  readonly portalUrl: string;
  readonly token: string;
  readonly deviceId: string;
  readonly name: string;
  readonly tunName: string;
  /** Masquerade the tunnel ranges on the way out (default true). */
  readonly masquerade?: boolean;
  /** Where the state file lives (e.g. /var/lib/fz-gateway). */
  readonly stateDir: string;
  readonly logger: Logger;
  /** Stops the gateway as SIGTERM does. */
  readonly signal?: AbortSignal;
  /** Handle SIGINT/SIGTERM/SIGHUP and uncaught errors (default true; off in tests). */
  readonly handleProcessSignals?: boolean;
  /** How long the runtime may take to stop once told to (default 10 s). */
  readonly stopTimeoutMs?: number;
  /** Default: the real host (nft, /proc/sys). */
  readonly host?: GatewayHost;
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const DEFAULT_STOP_TIMEOUT_MS = 10_000;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

export async function runGateway(options: GatewayOptions, runtime: GatewayRuntime): Promise<number> {
  const log = redactingLogger(options.logger, () => [options.token]);
  const host =
    options.host ??
    new HostSetup({
      stateDir: options.stateDir,
      tunName: options.tunName,
      masquerade: options.masquerade ?? true,
      logger: log,
    });
  const stop = new AbortController();
  let fatal: unknown;
  let stopSignal: string | undefined;

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stop.signal.aborted) {
      log.debug(`received ${signal} while stopping`);
      return;
    }
    stopSignal = signal;
    log.info(`received ${signal}, stopping`);
    stop.abort();
  };
  const onUncaught = (err: unknown): void => {
    if (fatal === undefined) fatal = err;
    stop.abort();
  };
  const onExternalAbort = (): void => {
    if (!stop.signal.aborted) {
      stopSignal = 'abort';
      log.info('stopping');
      stop.abort();
    }
  };
  const handleProcess = options.handleProcessSignals ?? true;
  if (handleProcess) {
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
  }
  if (options.signal?.aborted) onExternalAbort();
  options.signal?.addEventListener('abort', onExternalAbort, { once: true });

  try {
    try {
      await host.cleanStale();
      await host.setUp();
    } catch (err) {
      log.error(`gateway stopped: host set-up failed: ${messageOf(err)}`);
      await tearDown(host, log);
      return 1;
    }

    if (!stop.signal.aborted) {
      await runRuntime(
        runtime,
        options,
        log,
        stop,
        options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
        (err) => {
          if (fatal === undefined) fatal = err;
        },
      );
    }

    const tornDown = await tearDown(host, log);
    if (fatal !== undefined) {
      log.error(`gateway stopped: ${messageOf(fatal)}`);
      return 1;
    }
    if (!tornDown) return 1;
    log.info('gateway stopped', stopSignal === undefined ? {} : { reason: stopSignal });
    return 0;
  } finally {
    options.signal?.removeEventListener('abort', onExternalAbort);
    if (handleProcess) {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    }
  }
}

/** Runs the runtime until it settles, or until `stop` and then at most `timeoutMs` more. */
async function runRuntime(
  runtime: GatewayRuntime,
  options: GatewayOptions,
  log: Logger,
  stop: AbortController,
  timeoutMs: number,
  onFatal: (err: unknown) => void,
): Promise<void> {
  let settled = false;
  const running = (async () => {
    await runtime({
      tunName: options.tunName,
      portalUrl: options.portalUrl,
      token: options.token,
      deviceId: options.deviceId,
      name: options.name,
      logger: log,
      signal: stop.signal,
    });
  })().then(
    () => {
      settled = true;
      if (!stop.signal.aborted) log.info('connection runtime finished');
    },
    (err: unknown) => {
      settled = true;
      if (!stop.signal.aborted) onFatal(err);
      else if (!isAbortError(err)) log.warn(`connection runtime failed while stopping: ${messageOf(err)}`);
    },
  );
  const stopped = new Promise<void>((resolve) => {
    if (stop.signal.aborted) resolve();
    else stop.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await Promise.race([running, stopped]);
  if (settled) {
    // Finished on its own (or failed): tell whatever it left running to stop.
    stop.abort();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    running.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    log.warn(`connection runtime did not stop within ${timeoutMs} ms; removing host changes anyway`);
  }
}

/** Tears the host set-up down; logs and returns false on failure (the next start retries). */
async function tearDown(host: GatewayHost, log: Logger): Promise<boolean> {
  try {
    await host.tearDown();
    return true;
  } catch (err) {
    log.error(`could not remove host changes: ${messageOf(err)}; the next start retries`);
    return false;
  }
}
