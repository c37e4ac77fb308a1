import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkRepository, commentText, headingSections } from './docs-check.js';
import { checkWorkflowFile } from './workflow-schema.js';

// Built from pieces so this file passes the check it tests.
const SHARED = ['..', 'shared'].join('/');
const WORKSPACE = '/' + 'work/';
/** A Markdown name, built so this file cites nothing itself. */
const md = (name: string): string => `${name}.${'md'}`;

let root = '';
function tree(files: Record<string, string>): string {
  root = mkdtempSync(path.join(tmpdir(), 'docs-check-'));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  }
  return root;
}
afterEach(() => {
  if (root !== '') rmSync(root, { recursive: true, force: true });
  root = '';
});
const messages = (dir: string): string[] =>
  checkRepository(dir).problems.map((p) => `${p.file}:${p.line}: ${p.message}`);

const PROTOCOL = '# Protocol\n\n## 1. One\n\n### 1.2 Two\n\n## A3. Appendix\n';
const WORKFLOW = `name: ci
on:
  push:
    branches: [main]
  pull_request:
jobs:
  linux:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - run: npm test
        env:
          CI: 'true'
`;

describe('docs:check', () => {
  it('passes a tree whose links, citations and workflow all resolve', () => {
    const dir = tree({
      'README.md': '[protocol](docs/protocol.md#1-one) and [src](src/) and [web](https://example.com)\n',
      'docs/protocol.md': PROTOCOL,
      'docs/guide.md': '![shot](images/a.png) see [readme](../README.md) and docs/protocol.md §1.2\n',
      'docs/images/a.png': 'png',
      'src/a.ts': `// ${md('docs/protocol')} §1, §1.2 and ${md('docs/protocol')} §A3\nconst x = "${md('NOT-A-CITE')}";\n`,
      '.github/workflows/ci.yml': WORKFLOW,
      'node_modules/x/README.md': `[broken](nowhere.md) ${SHARED}\n`,
      'e2e/artifacts/log.md': `${WORKSPACE}main\n`,
    });
    expect(messages(dir)).toEqual([]);
  });

  it('reports broken links and links that leave the repository', () => {
    const dir = tree({
      'docs/a.md': '[x](missing.md) [y](../../outside.md) ```\n[z](ignored-in-code.md)\n```\n',
    });
    expect(messages(dir)).toEqual(
      expect.arrayContaining([
        'docs/a.md:1: broken link: missing.md',
        'docs/a.md:1: link leaves the repository: ../../outside.md',
      ]),
    );
    expect(messages(dir).join('\n')).not.toContain('ignored-in-code');
  });

  it('reports cited documents and sections that do not exist, in comments and docs', () => {
    const dir = tree({
      'docs/protocol.md': PROTOCOL,
      'src/a.ts': `/**\n * See ${md('PROTOCOL')} §3 and ${md('docs/protocol')} §9.9.\n */\nexport const a = 1;\n`,
      'NOTES.md': 'Read DESIGN.md first.\n',
    });
    expect(messages(dir)).toEqual([
      'NOTES.md:1: cites a document the repository does not hold: DESIGN.md',
      'src/a.ts:2: cites a document the repository does not hold: PROTOCOL.md',
      'src/a.ts:2: cites docs/protocol.md §9.9, which has no such section heading',
    ]);
  });

  it('reports any mention of a path outside the repository', () => {
    const dir = tree({
      'a.ts': `// the design is in ${SHARED}/DESIGN.md\n`,
      'b.sh': `cat ${WORKSPACE}main/x\n`,
      'c.md': 'network/work/ is fine\n',
    });
    const found = messages(dir);
    expect(found).toContain(`a.ts:1: mentions a path outside the repository: ${SHARED}`);
    expect(found).toContain(`b.sh:1: mentions a path outside the repository: ${WORKSPACE}`);
    expect(found.filter((m) => m.startsWith('c.md'))).toEqual([]);
  });

  it('reports a malformed workflow', () => {
    const dir = tree({
      '.github/workflows/ci.yml': 'on: push\njobs:\n  a:\n    run-on: ubuntu-24.04\n    steps: []\n',
    });
    expect(messages(dir).some((m) => m.startsWith('.github/workflows/ci.yml:0: workflow jobs.a'))).toBe(true);
  });
});

describe('helpers', () => {
  it('numbers headings', () => {
    expect([...headingSections(PROTOCOL)]).toEqual(['1', '1.2', 'A3']);
  });

  it('keeps only comments of code, line for line', () => {
    const text = commentText(
      `const a = "${md('x')}"; // ${md('one')}\n/* ${md('two')}\n ${md('three')} */ const b = 1;\nconst url = "https://x";\n`,
    );
    expect(text.split('\n')).toHaveLength(5);
    expect(text).toContain(md('one'));
    expect(text).toContain(md('three'));
    expect(text).not.toContain(`${md('x')}"`);
  });
});

describe('workflow schema', () => {
  it('accepts the keys we use', () => {
    expect(checkWorkflowFile(WORKFLOW)).toEqual([]);
    expect(
      checkWorkflowFile(`on: [push]
jobs:
  build:
    strategy:
      fail-fast: false
      matrix:
        os: [macos-14, windows-2022]
    runs-on: \${{ matrix.os }}
    steps:
      - uses: actions/setup-node@v4
        with:
          node-version: 20
      - name: unit
        if: runner.os == 'macOS'
        shell: bash
        run: npm run test:unit
  after:
    needs: build
    runs-on: ubuntu-24.04
    steps:
      - run: echo done
`),
    ).toEqual([]);
  });

  it('refuses typos, steps with both or neither of uses/run, unknown needs and bad YAML', () => {
    expect(
      checkWorkflowFile('on: push\njobs:\n  a:\n    runs-on: x\n    step:\n      - run: y\n').length,
    ).toBeGreaterThan(0);
    expect(
      checkWorkflowFile('on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - name: nothing\n'),
    ).toEqual(['workflow jobs.a.steps.0: a step has exactly one of "uses" and "run"']);
    expect(
      checkWorkflowFile('on: push\njobs:\n  a:\n    runs-on: x\n    needs: b\n    steps:\n      - run: y\n'),
    ).toEqual(['jobs.a.needs: no job "b"']);
    expect(checkWorkflowFile('on: push\njobs: [\n')[0]).toMatch(/^workflow YAML does not parse/);
    expect(
      checkWorkflowFile('on: pushed\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: y\n').length,
    ).toBeGreaterThan(0);
  });
});
