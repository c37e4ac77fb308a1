/**
 * `npm run bench [-- <name>...]`: runs the named benchmarks (when none is named, all but those
 * run on request only). Each benchmark prints its own table with ratios against a reference
 * measured in the same run, so numbers from different machines or runs are never compared
 * directly. `report` runs several of them and writes `bench/results/` and the README's section.
 */
const benchmarks: Record<string, () => Promise<unknown>> = {
  crypto: async () => (await import('./crypto.js')).run(),
  handshake: async () => (await import('./handshake.js')).run(),
  throughput: async () => (await import('./throughput.js')).run(),
  lanes: async () => (await import('./lanes.js')).run(),
  setup: async () => (await import('./setup.js')).run(),
  dns: async () => (await import('./dns.js')).run(),
  memory: async () => (await import('./memory.js')).run(),
  report: async () => (await import('./report.js')).run(),
};
/** Not part of a bare `npm run bench`: memory builds the system tests' namespaces, report reruns the others. */
const ON_REQUEST = new Set(['memory', 'report']);

const requested = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = requested.filter((name) => !(name in benchmarks));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(benchmarks).join(', ')}`);
  process.exit(2);
}
for (const name of requested.length > 0
  ? requested
  : Object.keys(benchmarks).filter((n) => !ON_REQUEST.has(n))) {
  console.log(`\n== bench ${name} ==`);
  await benchmarks[name]!();
}
