/**
 * DNS-resource address patterns and the lookup of which resources a name belongs to.
 *
 * Pattern forms (case-insensitive, one trailing dot ignored):
 * - `wiki.corp.example`: exactly that name;
 * - `?.corp.example`: exactly one more label (`a.corp.example`, not `corp.example`, not `a.b.corp.example`);
 * - `*.corp.example`: the name itself and any depth below it (`corp.example`, `a.b.corp.example`);
 * - `**.corp.example`: the same set of names as `*.` (docs/protocol.md §2.4: zero or more whole labels),
 *   but less specific than `*.` when both match.
 *
 * This follows the issue (`*.` = any depth including the apex, `?.` = one label), the pre-1.2
 * semantics of docs/protocol.md §2.4. Wildcards inside a label (`f??.corp.example`, `*ample.com`) or
 * anywhere but the first label are not supported: such resources are reported in `rejected`.
 *
 * Precedence is §2.4's right-to-left comparison (`comparePatternSpecificity`). For the forms
 * above it comes down to: the longer literal suffix wins; on the same suffix exact > `?.` > `*.` >
 * `**.`; the same pattern twice → the higher resource id first.
 *
 * Lookup walks a trie keyed by labels from the right, so its cost depends on the name's labels
 * (and the number of matches), never on how many resources there are.
 */

export type IpStack = 'dual' | 'ipv4_only' | 'ipv6_only';

/** What the matcher needs of a DNS resource; the portal's parsed `dns` resource fits. */
export interface DnsResourceSpec {
  readonly id: string;
  /** The pattern (`address` in the portal's resource object). */
  readonly address: string;
  /** Missing or null means `dual`. */
  readonly ip_stack?: IpStack | null;
}

export type PatternKind = 'exact' | 'single' | 'any' | 'deep';

export interface DnsPattern {
  readonly kind: PatternKind;
  /** Literal labels after the wildcard (all labels for `exact`), lowercase, left to right. */
  readonly suffix: readonly string[];
  /** Normalised text: lowercase, no trailing dot. */
  readonly text: string;
}

const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;
const WILDCARD_PREFIX: Readonly<Record<string, PatternKind>> = { '?': 'single', '*': 'any', '**': 'deep' };

/**
 * The lowercase labels of a name (one trailing dot ignored), or null for names no resource can
 * match: empty, an empty label, a label over 63 bytes, over 253 characters.
 */
export function nameLabels(name: string): string[] | null {
  const text = name.endsWith('.') ? name.slice(0, -1) : name;
  if (text.length === 0 || text.length > MAX_NAME_LENGTH) return null;
  const labels = text.toLowerCase().split('.');
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL_LENGTH) return null;
  }
  return labels;
}

/** Parses a resource address; null when it is not one of the supported forms. */
export function parsePattern(address: string): DnsPattern | null {
  const labels = nameLabels(address.trim());
  if (labels === null) return null;
  const first = labels[0]!;
  const kind = WILDCARD_PREFIX[first];
  const suffix = kind === undefined ? labels : labels.slice(1);
  if (suffix.length === 0) return null; // a bare wildcard would match everything
  for (const label of suffix) {
    if (label.includes('*') || label.includes('?')) return null;
  }
  return { kind: kind ?? 'exact', suffix, text: labels.join('.') };
}

/** Whether `name` matches `pattern` (the plain definition, no trie; also the test reference). */
export function patternMatches(pattern: DnsPattern, name: string): boolean {
  const labels = nameLabels(name);
  if (labels === null) return false;
  const s = pattern.suffix;
  const extra = labels.length - s.length;
  if (extra < 0) return false;
  for (let i = 0; i < s.length; i++) {
    if (labels[extra + i] !== s[i]) return false;
  }
  switch (pattern.kind) {
    case 'exact':
      return extra === 0;
    case 'single':
      return extra === 1;
    case 'any':
    case 'deep':
      return true;
  }
}

const isWildcardChar = (c: string): boolean => c === '*' || c === '?';

/**
 * docs/protocol.md §2.4 specificity order of two (normalised) patterns: negative when `a` is more
 * specific. Compared right to left; identical characters are skipped; at the first difference `?`
 * beats `*`, a literal beats a wildcard, between literals the larger character wins (reverse
 * lexical); a pattern that ends where the other continues is the more specific.
 */
export function comparePatternSpecificity(a: string, b: string): number {
  let i = a.length - 1;
  let j = b.length - 1;
  while (i >= 0 && j >= 0) {
    const ca = a[i]!;
    const cb = b[j]!;
    if (ca === cb) {
      i--;
      j--;
      continue;
    }
    const wa = isWildcardChar(ca);
    const wb = isWildcardChar(cb);
    if (wa && wb) return ca === '?' ? -1 : 1;
    if (wa) return 1;
    if (wb) return -1;
    return ca > cb ? -1 : 1;
  }
  if (i < 0 && j < 0) return 0;
  return i < 0 ? -1 : 1;
}

interface TrieNode<R> {
  children: Map<string, TrieNode<R>> | undefined;
  exact: R[] | undefined;
  single: R[] | undefined;
  any: R[] | undefined;
  deep: R[] | undefined;
}

const newNode = <R>(): TrieNode<R> => ({
  children: undefined,
  exact: undefined,
  single: undefined,
  any: undefined,
  deep: undefined,
});

const higherIdFirst = (a: DnsResourceSpec, b: DnsResourceSpec): number =>
  a.id === b.id ? 0 : a.id > b.id ? -1 : 1;

function append<R>(out: R[], list: readonly R[] | undefined): void {
  if (list !== undefined) for (const r of list) out.push(r);
}

/** An immutable index of DNS resources by pattern; build a new one when the resources change. */
export class ResourceMatcher<R extends DnsResourceSpec = DnsResourceSpec> {
  /** Resources whose address is not a supported pattern; never matched. */
  readonly rejected: readonly R[];
  /** Resources indexed. */
  readonly size: number;
  readonly #root: TrieNode<R> = newNode();
  readonly #patterns = new Map<R, DnsPattern>();

  constructor(resources: Iterable<R>) {
    const rejected: R[] = [];
    const touched = new Set<R[]>();
    for (const resource of resources) {
      const pattern = parsePattern(resource.address);
      if (pattern === null) {
        rejected.push(resource);
        continue;
      }
      this.#patterns.set(resource, pattern);
      let node = this.#root;
      for (let i = pattern.suffix.length - 1; i >= 0; i--) {
        const label = pattern.suffix[i]!;
        node.children ??= new Map();
        let child = node.children.get(label);
        if (child === undefined) {
          child = newNode();
          node.children.set(label, child);
        }
        node = child;
      }
      const list = (node[pattern.kind] ??= []);
      list.push(resource);
      touched.add(list);
    }
    for (const list of touched) list.sort(higherIdFirst);
    this.rejected = rejected;
    this.size = this.#patterns.size;
  }

  /** The parsed pattern of an indexed resource. */
  patternOf(resource: R): DnsPattern | undefined {
    return this.#patterns.get(resource);
  }

  /** Every resource whose pattern matches `name`, most specific first (§2.4). */
  match(name: string): R[] {
    const labels = nameLabels(name);
    if (labels === null) return [];
    const n = labels.length;
    // path[k] is the node of the name's last k + 1 labels.
    const path: TrieNode<R>[] = [];
    let node = this.#root;
    for (let i = n - 1; i >= 0; i--) {
      const child = node.children?.get(labels[i]!);
      if (child === undefined) break;
      path.push(child);
      node = child;
    }
    const out: R[] = [];
    for (let k = path.length - 1; k >= 0; k--) {
      const at = path[k]!;
      const depth = k + 1;
      if (depth === n) append(out, at.exact);
      else if (depth === n - 1) append(out, at.single);
      append(out, at.any);
      append(out, at.deep);
    }
    return out;
  }

  /** The most specific resource for `name` (what SRV/TXT forwarding uses), if any. */
  best(name: string): R | undefined {
    return this.match(name)[0];
  }
}
