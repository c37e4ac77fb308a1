/** A UDP peer address as the drivers see it (IPv4 dotted or IPv6 text form). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export function sameEndpoint(a: Endpoint | undefined, b: Endpoint | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.port === b.port && a.address === b.address);
}

export function formatEndpoint(e: Endpoint | undefined): string {
  if (!e) return '(none)';
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
