import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  comparePatternSpecificity,
  parsePattern,
  patternMatches,
  ResourceMatcher,
  type DnsResourceSpec,
} from './matcher.js';

const res = (id: string, address: string): DnsResourceSpec => ({ id, address });
const ids = (list: readonly DnsResourceSpec[]): string[] => list.map((r) => r.id);

describe('parsePattern', () => {
  it('reads the four forms, lowercased, without a trailing dot', () => {
    expect(parsePattern('Wiki.Corp.Example.')).toEqual({
      kind: 'exact',
      suffix: ['wiki', 'corp', 'example'],
      text: 'wiki.corp.example',
    });
    expect(parsePattern('?.corp.example')?.kind).toBe('single');
    expect(parsePattern('*.corp.example')?.kind).toBe('any');
    expect(parsePattern('**.corp.example')).toEqual({
      kind: 'deep',
      suffix: ['corp', 'example'],
      text: '**.corp.example',
    });
  });

  it('rejects wildcards inside or after the first label, bare wildcards and bad names', () => {
    for (const bad of [
      'app.*.example.com',
      '*ample.com',
      'app.f??.example.com',
      '*',
      '**',
      '?',
      '',
      '.',
      'a..b',
      `${'a'.repeat(64)}.com`,
      `${'a.'.repeat(127)}com`,
    ]) {
      expect(parsePattern(bad), bad).toBeNull();
    }
  });
});

describe('ResourceMatcher', () => {
  it('matches exact names case-insensitively, with or without a trailing dot', () => {
    const m = new ResourceMatcher([res('1', 'wiki.corp.example')]);
    expect(ids(m.match('wiki.corp.example'))).toEqual(['1']);
    expect(ids(m.match('WIKI.Corp.Example.'))).toEqual(['1']);
    expect(m.match('a.wiki.corp.example')).toEqual([]);
    expect(m.match('corp.example')).toEqual([]);
    expect(m.match('')).toEqual([]);
    expect(m.match('.')).toEqual([]);
  });

  it('`*.` matches the apex and any depth', () => {
    const m = new ResourceMatcher([res('1', '*.example.com')]);
    for (const name of ['example.com', 'a.example.com', 'a.b.example.com', 'x.y.z.example.com']) {
      expect(ids(m.match(name)), name).toEqual(['1']);
    }
    expect(m.match('com')).toEqual([]);
    expect(m.match('badexample.com')).toEqual([]);
    expect(m.match('example.com.evil')).toEqual([]);
  });

  it('`?.` matches exactly one label below', () => {
    const m = new ResourceMatcher([res('1', '?.example.com')]);
    expect(ids(m.match('a.example.com'))).toEqual(['1']);
    expect(ids(m.match('long-label.example.com'))).toEqual(['1']);
    expect(m.match('example.com')).toEqual([]);
    expect(m.match('a.b.example.com')).toEqual([]);
  });

  it('`**.` matches the apex and any depth, after `*.`', () => {
    const m = new ResourceMatcher([res('deep', '**.example.com'), res('any', '*.example.com')]);
    expect(ids(m.match('example.com'))).toEqual(['any', 'deep']);
    expect(ids(m.match('a.b.example.com'))).toEqual(['any', 'deep']);
  });

  it('orders matches by docs/protocol.md §2.4: longer literal suffix, then exact > ? > * > **', () => {
    const m = new ResourceMatcher([
      res('com', '*.com'),
      res('deep', '**.example.com'),
      res('any', '*.example.com'),
      res('one', '?.example.com'),
      res('exact', 'bar.example.com'),
      res('bar-any', '*.bar.example.com'),
      res('bar-deep', '**.bar.example.com'),
      res('other', 'foo.example.com'),
    ]);
    expect(ids(m.match('bar.example.com'))).toEqual([
      'exact',
      'bar-any',
      'bar-deep',
      'one',
      'any',
      'deep',
      'com',
    ]);
    expect(ids(m.match('x.bar.example.com'))).toEqual(['bar-any', 'bar-deep', 'any', 'deep', 'com']);
    expect(ids(m.match('foo.example.com'))).toEqual(['other', 'one', 'any', 'deep', 'com']);
    expect(m.best('zzz.example.com')?.id).toBe('one');
  });

  it('breaks ties between equal patterns by the higher resource id', () => {
    const m = new ResourceMatcher([res('aaa', '*.x.test'), res('ccc', '*.X.test.'), res('bbb', '*.x.test')]);
    expect(ids(m.match('a.x.test'))).toEqual(['ccc', 'bbb', 'aaa']);
  });

  it('reports unsupported patterns and never matches them', () => {
    const bad = res('bad', 'app.*.example.com');
    const m = new ResourceMatcher([bad, res('ok', 'example.com')]);
    expect(m.rejected).toEqual([bad]);
    expect(m.size).toBe(1);
    expect(m.match('app.x.example.com')).toEqual([]);
  });

  it('gives the same answers with 10 and with 10,000 resources', () => {
    const base = Array.from({ length: 10 }, (_, i) =>
      res(`base-${i}`, ['', '*.', '?.', '**.'][i % 4] + `svc${i}.corp.example`),
    );
    const filler = Array.from({ length: 9_990 }, (_, i) =>
      res(`fill-${i}`, ['', '*.', '?.', '**.'][i % 4] + `host${i}.site${i % 37}.example`),
    );
    const small = new ResourceMatcher(base);
    const large = new ResourceMatcher([...filler, ...base]);
    expect(large.size).toBe(10_000);
    const probes = [
      ...base.map((_, i) => `svc${i}.corp.example`),
      ...base.map((_, i) => `a.svc${i}.corp.example`),
      ...base.map((_, i) => `a.b.svc${i}.corp.example`),
      'corp.example',
      'nothing.here',
      'svc1.corp.example.org',
    ];
    for (const name of probes) expect(ids(large.match(name)), name).toEqual(ids(small.match(name)));
  });
});

describe('comparePatternSpecificity', () => {
  it('reproduces the §2.4 test ordering', () => {
    const expected = [
      'example.com',
      'bar.example.com',
      '*.bar.example.com',
      'foo.example.com',
      '?.example.com',
      '*.example.com',
      '**.example.com',
      '*ample.com',
      '*.com',
    ];
    const shuffled = [...expected].reverse();
    expect(shuffled.sort(comparePatternSpecificity)).toEqual(expected);
  });
});

describe('ResourceMatcher against the plain definition (property)', () => {
  const label = fc.constantFrom('a', 'b', 'c', 'B');
  const labels = (min: number, max: number): fc.Arbitrary<string[]> =>
    fc.array(label, { minLength: min, maxLength: max });
  const patternArb = fc
    .tuple(fc.constantFrom('', '*.', '?.', '**.'), labels(1, 3), fc.boolean())
    .map(([prefix, suffix, dot]) => `${prefix}${suffix.join('.')}${dot ? '.' : ''}`);
  const nameArb = fc
    .tuple(labels(1, 5), fc.boolean())
    .map(([parts, dot]) => `${parts.join('.')}${dot ? '.' : ''}`);

  it('finds exactly the matching resources, most specific first, ties by higher id', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), patternArb), { maxLength: 25 }),
        fc.array(nameArb, { minLength: 1, maxLength: 10 }),
        (entries, names) => {
          const resources = entries.map(([id, address]) => res(`r${String(id).padStart(2, '0')}`, address));
          const matcher = new ResourceMatcher(resources);
          for (const name of names) {
            const expected = resources
              .filter((r) => patternMatches(parsePattern(r.address)!, name))
              .sort(
                (a, b) =>
                  comparePatternSpecificity(parsePattern(a.address)!.text, parsePattern(b.address)!.text) ||
                  (a.id === b.id ? 0 : a.id > b.id ? -1 : 1),
              );
            expect(ids(matcher.match(name))).toEqual(ids(expected));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
