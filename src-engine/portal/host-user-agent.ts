/**
 * The User-Agent parts a component on this machine sends to the portal: this host's OS, kernel
 * and architecture, and FIREZONE_PROTOCOL_VERSION as the component's version (never the package
 * version; see the constant for why). The desktop app's worker, the headless client and the
 * gateway all build their User-Agent here.
 */
import { arch, release, type } from 'node:os';
import { FIREZONE_PROTOCOL_VERSION, type UserAgentComponent } from './constants.js';
import type { UserAgentParts } from './user-agent.js';

export interface HostInfo {
  /** `os.type()`: Linux, Darwin, Windows_NT. */
  readonly type: string;
  /** `os.release()`, e.g. `6.1.0-18-amd64`. */
  readonly release: string;
  /** `os.arch()`, e.g. `x64`. */
  readonly arch: string;
}

const OS_NAMES: Readonly<Record<string, string>> = { Linux: 'Linux', Darwin: 'macOS', Windows_NT: 'Windows' };
const ARCH_NAMES: Readonly<Record<string, string>> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'x86' };

function localHost(): HostInfo {
  return { type: type(), release: release(), arch: arch() };
}

/** `6.1.0-18-amd64` → `6.1.0`: the UA's tokens may not contain spaces, `/`, `(`, `)` or `;`. */
function kernelVersion(text: string): string {
  const version = /^[0-9][0-9A-Za-z.]*/.exec(text)?.[0];
  return version ?? '0';
}

export function userAgentPartsFor(
  component: UserAgentComponent,
  host: HostInfo = localHost(),
): UserAgentParts {
  const kernel = kernelVersion(host.release);
  return {
    os: OS_NAMES[host.type] ?? (host.type.replace(/[^A-Za-z0-9._-]/g, '') || 'Unknown'),
    osVersion: kernel,
    component,
    version: FIREZONE_PROTOCOL_VERSION,
    arch: ARCH_NAMES[host.arch] ?? (host.arch.replace(/[^A-Za-z0-9._-]/g, '') || 'unknown'),
    kernel,
  };
}
