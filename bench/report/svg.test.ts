import { describe, expect, it } from 'vitest';
import { barChartSvg, escapeXml, niceAxis } from './svg.js';

/** Element nesting of an SVG string is balanced and its text has no raw markup characters. */
function assertWellFormed(svg: string): void {
  const stack: string[] = [];
  const tags = svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g);
  let consumed = 0;
  let last = 0;
  for (const m of tags) {
    const between = svg.slice(last, m.index);
    // Between tags only text: no '<', and '&' only as an entity.
    expect(between).not.toMatch(/</);
    expect(between.replace(/&(amp|lt|gt|quot|apos);/g, '')).not.toMatch(/&/);
    consumed += between.length + m[0].length;
    last = m.index + m[0].length;
    const [, closing, name, , selfClosing] = m;
    if (selfClosing) continue;
    if (closing) expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  consumed += svg.length - last;
  expect(svg.slice(last).trim()).toBe('');
  expect(consumed).toBe(svg.length);
  expect(stack).toEqual([]);
}

function bars(svg: string): { height: number; title: string }[] {
  return [...svg.matchAll(/<rect class="bar"[^>]* height="([\d.]+)"[^>]*><title>([^<]*)<\/title>/g)].map(
    (m) => ({ height: Number(m[1]), title: m[2]! }),
  );
}

describe('niceAxis', () => {
  it('picks 1, 2, 2.5 or 5 times a power of ten and a top at or above the maximum', () => {
    expect(niceAxis(1281)).toEqual({ step: 250, top: 1500 });
    expect(niceAxis(600)).toEqual({ step: 100, top: 600 });
    expect(niceAxis(7)).toEqual({ step: 2, top: 8 });
    expect(niceAxis(0.3)).toEqual({ step: 0.05, top: 0.3 });
  });

  it('falls back to 0..1 when there is nothing to show', () => {
    expect(niceAxis(0)).toEqual({ step: 1, top: 1 });
    expect(niceAxis(NaN)).toEqual({ step: 1, top: 1 });
  });
});

describe('barChartSvg', () => {
  const options = {
    title: 'Throughput <per> kind & stream',
    xLabel: 'tunnel kind',
    yLabel: 'Mbit/s',
    series: [
      { name: '1 stream', color: '#111111' },
      { name: '4 streams', color: '#222222' },
    ],
    groups: [
      { label: 'wireguard-go', values: [500, 250] },
      { label: 'ours "fast"', values: [1000, undefined] },
    ],
  };

  it('is well-formed SVG with escaped text', () => {
    const svg = barChartSvg(options);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    assertWellFormed(svg);
    expect(svg).toContain('Throughput &lt;per&gt; kind &amp; stream');
    expect(svg).toContain('ours &quot;fast&quot;');
  });

  it('draws one bar per value, heights proportional to the values, and n/a for a missing one', () => {
    const svg = barChartSvg(options);
    const drawn = bars(svg);
    expect(drawn.map((b) => b.title)).toEqual([
      'wireguard-go, 1 stream: 500',
      'wireguard-go, 4 streams: 250',
      'ours &quot;fast&quot;, 1 stream: 1000',
    ]);
    expect(drawn[0]!.height / drawn[2]!.height).toBeCloseTo(0.5, 2);
    expect(drawn[1]!.height / drawn[2]!.height).toBeCloseTo(0.25, 2);
    expect(svg).toContain('>n/a</text>');
  });

  it('labels the axes, the values, the groups and the legend', () => {
    const svg = barChartSvg({ ...options, format: (v) => v.toFixed(1) });
    for (const text of [
      'tunnel kind',
      'Mbit/s',
      '1 stream',
      '4 streams',
      'wireguard-go',
      '500.0',
      '1000.0',
    ]) {
      expect(svg).toContain(`>${text}</text>`);
    }
    // y ticks from 0 to the axis top (1000 in steps of 200).
    for (const tick of ['0.0', '200.0', '1000.0'])
      expect(svg).toMatch(new RegExp(`text-anchor="end">${tick}<`));
  });

  it('is the same for the same input (stable diffs of the committed plot)', () => {
    expect(barChartSvg(options)).toBe(barChartSvg(options));
  });

  it('escapeXml covers the five XML specials', () => {
    expect(escapeXml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});
