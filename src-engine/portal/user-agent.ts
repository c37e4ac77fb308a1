/**
 * The User-Agent the portal requires (docs/protocol.md §3.1):
 * `<OS>/<os version> <component>/<app version> (<arch>; <kernel>)`,
 * e.g. `Ubuntu/22.4.0 gui-client/1.5.13 (x86_64; 6.5.0)`. The portal derives the component's
 * version from it, which gates gateway compatibility (§3.10).
 */
import { USER_AGENT_COMPONENTS, type UserAgentComponent } from './constants.js';

export interface UserAgentParts {
  readonly os: string;
  readonly osVersion: string;
  readonly component: UserAgentComponent;
  readonly version: string;
  readonly arch: string;
  readonly kernel: string;
}

const SAFE = /^[^\s/();]+$/;

export function buildUserAgent(parts: UserAgentParts): string {
  for (const [name, value] of Object.entries(parts)) {
    // OS names may contain spaces in the wild (the portal splits carefully); ours never need to.
    if (!SAFE.test(value))
      throw new RangeError(`User-Agent ${name} "${value}" must not contain spaces, "/", "(", ")" or ";"`);
  }
  return `${parts.os}/${parts.osVersion} ${parts.component}/${parts.version} (${parts.arch}; ${parts.kernel})`;
}

export interface Version {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export interface ParsedUserAgent {
  readonly component: UserAgentComponent;
  readonly version: Version;
  readonly versionString: string;
  /** Operating system name and version, when the UA starts with `<os>/<version> `. */
  readonly os: string | null;
  readonly osVersion: string | null;
}

export function parseVersion(text: string): Version | undefined {
  const match = /^(\d{1,6})\.(\d{1,6})\.(\d{1,6})(?:[-+][0-9A-Za-z.-]*)?$/.exec(text);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]) };
}

/** Finds the component token; undefined when the UA names no known component (portal: 400). */
export function parseUserAgent(userAgent: string): ParsedUserAgent | undefined {
  if (userAgent.length > 512) return undefined;
  const tokens = userAgent.split(/\s+/);
  for (const token of tokens) {
    const slash = token.indexOf('/');
    if (slash <= 0) continue;
    const name = token.slice(0, slash);
    if (!(USER_AGENT_COMPONENTS as readonly string[]).includes(name)) continue;
    const versionString = token.slice(slash + 1);
    const version = parseVersion(versionString);
    if (!version) return undefined;
    const first = tokens[0] ?? '';
    const osSlash = first.indexOf('/');
    const os = first !== token && osSlash > 0 ? first.slice(0, osSlash) : null;
    const osVersion = first !== token && osSlash > 0 ? first.slice(osSlash + 1) : null;
    return { component: name as UserAgentComponent, version, versionString, os, osVersion };
  }
  return undefined;
}

/**
 * Whether a gateway of `gateway` version may serve a client of `client` version (§3.10 step 2):
 * gateway ≥ client.major.(minor−1).0 and < client.major.(minor+2).0.
 */
export function isGatewayCompatible(client: Version, gateway: Version): boolean {
  if (gateway.major !== client.major) return false;
  return gateway.minor >= client.minor - 1 && gateway.minor < client.minor + 2;
}
