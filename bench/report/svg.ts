/**
 * A grouped bar chart as a standalone SVG string: one group per category (a tunnel kind), one bar
 * per series (direction and stream count), the value above each bar, a y axis with round ticks,
 * axis labels and a legend. Pure and dependency-free so that it renders the same in a README on
 * GitHub, in a browser and in tests, with no browser needed to make it.
 */

export interface BarSeries {
  name: string;
  /** Any SVG paint, e.g. `#1f77b4`. */
  color: string;
}

export interface BarGroup {
  label: string;
  /** One value per series, in series order; undefined draws "n/a" instead of a bar. */
  values: readonly (number | undefined)[];
}

export interface BarChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly BarSeries[];
  groups: readonly BarGroup[];
  /** How a value is printed above its bar (default: rounded to an integer). */
  format?: (value: number) => string;
}

const BAR_WIDTH = 30;
const BAR_GAP = 4;
const GROUP_GAP = 36;
const PLOT_HEIGHT = 300;
const MARGIN = { top: 64, right: 24, bottom: 72, left: 72 };
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Escapes text for SVG element content and attribute values. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * A round tick step (1, 2, 2.5 or 5 times a power of ten) that splits 0..max into at most
 * `maxTicks` intervals, and the axis top: the first multiple of the step at or above max.
 */
export function niceAxis(max: number, maxTicks = 6): { step: number; top: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { step: 1, top: 1 };
  const rough = max / maxTicks;
  const power = 10 ** Math.floor(Math.log10(rough));
  // toPrecision: 3 × 0.1 is 0.30000000000000004 in binary floating point.
  const clean = (x: number): number => Number(x.toPrecision(12));
  const step = clean([1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= rough)!);
  return { step, top: clean(Math.ceil(max / step - 1e-9) * step) };
}

/** Rounds to 2 decimals for coordinates (keeps the file small and stable across runs). */
function r2(x: number): string {
  return String(Math.round(x * 100) / 100);
}

export function barChartSvg(options: BarChartOptions): string {
  const { series, groups } = options;
  const format = options.format ?? ((v: number) => String(Math.round(v)));
  const values = groups.flatMap((g) =>
    g.values.filter((v): v is number => v !== undefined && Number.isFinite(v)),
  );
  const { step, top } = niceAxis(Math.max(0, ...values));
  const groupWidth = series.length * BAR_WIDTH + (series.length - 1) * BAR_GAP;
  const plotWidth = Math.max(groups.length * (groupWidth + GROUP_GAP), 240);
  const legendWidth = series.reduce((w, s) => w + 24 + s.name.length * 7 + 16, 0);
  const width = MARGIN.left + Math.max(plotWidth, legendWidth) + MARGIN.right;
  const height = MARGIN.top + PLOT_HEIGHT + MARGIN.bottom;
  const x0 = MARGIN.left;
  const y0 = MARGIN.top + PLOT_HEIGHT; // the baseline
  const y = (v: number): number => y0 - (v / top) * PLOT_HEIGHT;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(
    `<text x="${r2(width / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  );

  // Legend, one row under the title.
  let lx = x0;
  for (const s of series) {
    out.push(`<rect x="${r2(lx)}" y="34" width="12" height="12" fill="${escapeXml(s.color)}"/>`);
    out.push(`<text x="${r2(lx + 16)}" y="44">${escapeXml(s.name)}</text>`);
    lx += 24 + s.name.length * 7 + 16;
  }

  // Grid and y ticks.
  const ticks = Math.round(top / step);
  for (let i = 0; i <= ticks; i++) {
    const v = Number((i * step).toPrecision(12));
    const yy = r2(y(v));
    out.push(`<line x1="${x0}" y1="${yy}" x2="${r2(x0 + plotWidth)}" y2="${yy}" stroke="#dddddd"/>`);
    out.push(`<text x="${x0 - 6}" y="${r2(y(v) + 4)}" text-anchor="end">${escapeXml(format(v))}</text>`);
  }

  // Bars.
  groups.forEach((g, gi) => {
    const gx = x0 + GROUP_GAP / 2 + gi * (groupWidth + GROUP_GAP);
    series.forEach((s, si) => {
      const bx = gx + si * (BAR_WIDTH + BAR_GAP);
      const cx = r2(bx + BAR_WIDTH / 2);
      const v = g.values[si];
      if (v === undefined || !Number.isFinite(v)) {
        out.push(
          `<text x="${cx}" y="${y0 - 4}" text-anchor="middle" font-size="10" fill="#888888">n/a</text>`,
        );
        return;
      }
      const h = y0 - y(Math.max(0, v));
      out.push(
        `<rect class="bar" x="${r2(bx)}" y="${r2(y0 - h)}" width="${BAR_WIDTH}" height="${r2(h)}" fill="${escapeXml(s.color)}">` +
          `<title>${escapeXml(`${g.label}, ${s.name}: ${format(v)}`)}</title></rect>`,
      );
      out.push(
        `<text x="${cx}" y="${r2(y0 - h - 4)}" text-anchor="middle" font-size="10">${escapeXml(format(v))}</text>`,
      );
    });
    out.push(
      `<text x="${r2(gx + groupWidth / 2)}" y="${y0 + 18}" text-anchor="middle">${escapeXml(g.label)}</text>`,
    );
  });

  // Axes and their labels.
  out.push(`<line x1="${x0}" y1="${MARGIN.top}" x2="${x0}" y2="${y0}" stroke="#333333"/>`);
  out.push(`<line x1="${x0}" y1="${y0}" x2="${r2(x0 + plotWidth)}" y2="${y0}" stroke="#333333"/>`);
  out.push(
    `<text x="${r2(x0 + plotWidth / 2)}" y="${height - 20}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
  );
  const yMid = r2(MARGIN.top + PLOT_HEIGHT / 2);
  out.push(
    `<text x="18" y="${yMid}" text-anchor="middle" transform="rotate(-90 18 ${yMid})">${escapeXml(options.yLabel)}</text>`,
  );
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
