/**
 * `npm run docs:check`: the repository must explain itself.
 *
 * Fails when
 *  - a relative link in a Markdown file does not resolve to a file or folder inside the repository;
 *  - a document is cited (a Markdown file name, with a path or not, maybe followed by a section
 *    number such as `§3.4`, in a code comment or a document) that the repository does not hold, or
 *    a cited section number is not a heading of that document;
 *  - any file mentions a path outside the repository: the workspace's shared folder (`..` + `/shared`)
 *    or an absolute path into the workspace (`/` + `work/…`);
 *  - `.github/workflows/*.yml` does not parse or does not fit the workflow schema (`workflow-schema.ts`).
 *
 * Usage: `tsx scripts/docs-check.ts [root]`. Prints one line per problem and a summary line
 * `docs:check ok files=<n>` or `docs:check failed problems=<n>`.
 */
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkWorkflowFile } from './workflow-schema.js';

export interface Problem {
  file: string;
  line: number;
  message: string;
}

/** Folders never walked (by name anywhere, or by path from the root). */
const SKIP_NAMES = new Set(['node_modules', '.git', 'dist', 'build', 'release', 'coverage']);
const SKIP_PATHS = new Set(['e2e/artifacts']);
/** Files whose text is checked for citations and outside paths. */
const TEXT_EXTENSIONS = new Set([
  '.md',
  '.ts',
  '.tsx',
  '.mts',
  '.cts',
  '.js',
  '.mjs',
  '.cjs',
  '.sh',
  '.yml',
  '.yaml',
  '.json',
  '.service',
  '.gyp',
  '.cc',
  '.c',
  '.h',
  '.txt',
  '.html',
  '.css',
]);
const SKIP_FILES = new Set(['package-lock.json']);
const CODE_EXTENSIONS = new Set(['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.cc', '.c', '.h']);

// Built from pieces so this file does not trip its own check.
const SHARED_DIR = ['..', 'shared'].join('/');
const WORKSPACE_ROOT = '/' + 'work/';

/** Lists the repository's files, relative to `root`, with `/` separators. */
export function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (SKIP_NAMES.has(entry.name) || SKIP_PATHS.has(rel)) continue;
        walk(rel);
      } else if (entry.isFile()) {
        out.push(rel);
      }
    }
  };
  walk('');
  return out.sort();
}

/** Section numbers of a Markdown document's headings: `## 3. Title` → `3`, `### 3.4 Title` → `3.4`, `### A1. x` → `A1`. */
export function headingSections(markdown: string): Set<string> {
  const sections = new Set<string>();
  for (const line of markdown.split('\n')) {
    const match = /^#{1,6}\s+(?:§\s*)?([A-Z]?\d+(?:\.\d+)*)[.):]?\s/.exec(line);
    if (match?.[1] !== undefined) sections.add(match[1]);
  }
  return sections;
}

/** The comment text of a source file, same line count (code replaced by blanks). */
export function commentText(source: string): string {
  const lines = source.split('\n');
  let inBlock = false;
  return lines
    .map((line) => {
      let out = '';
      let i = 0;
      while (i < line.length) {
        if (inBlock) {
          const end = line.indexOf('*/', i);
          if (end === -1) {
            out += line.slice(i);
            i = line.length;
          } else {
            out += line.slice(i, end);
            i = end + 2;
            inBlock = false;
          }
          continue;
        }
        const block = line.indexOf('/*', i);
        const lineComment = line.indexOf('//', i);
        if (lineComment !== -1 && (block === -1 || lineComment < block) && line[lineComment - 1] !== ':') {
          out += ' ' + line.slice(lineComment + 2);
          break;
        }
        if (block === -1) break;
        out += ' ';
        i = block + 2;
        inBlock = true;
      }
      return out;
    })
    .join('\n');
}

/** Fenced code blocks replaced by blanks (same offsets and lines). */
function blankFences(markdown: string): string {
  return markdown.replace(/```[\s\S]*?```/g, (block) => block.replace(/[^\n]/g, ' '));
}

const CITATION =
  /(?<![\w/.-])((?:[\w.-]+\/)*[\w-]+\.md)\b((?:\s*(?:§|,\s*§|–\s*§?|and\s+§)\s*[A-Z]?\d+(?:\.\d+)*)*)/g;

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

export interface CheckResult {
  files: number;
  problems: Problem[];
}

/** Runs every check on the tree at `root`. */
export function checkRepository(root: string): CheckResult {
  const files = listFiles(root);
  const fileSet = new Set(files);
  const byBaseName = new Map<string, string[]>();
  for (const file of files) {
    const base = path.posix.basename(file);
    byBaseName.set(base, [...(byBaseName.get(base) ?? []), file]);
  }
  const sectionCache = new Map<string, Set<string>>();
  const sectionsOf = (doc: string): Set<string> => {
    let sections = sectionCache.get(doc);
    if (sections === undefined) {
      sections = headingSections(readFileSync(path.join(root, doc), 'utf8'));
      sectionCache.set(doc, sections);
    }
    return sections;
  };
  const isDir = (rel: string): boolean => {
    try {
      return statSync(path.join(root, rel)).isDirectory();
    } catch {
      return false;
    }
  };
  const problems: Problem[] = [];
  let checked = 0;

  for (const file of files) {
    const ext = path.posix.extname(file);
    if (!TEXT_EXTENSIONS.has(ext) || SKIP_FILES.has(path.posix.basename(file))) continue;
    const text = readFileSync(path.join(root, file), 'utf8');
    checked++;
    const dir = path.posix.dirname(file);

    // Paths outside the repository, anywhere in the text.
    for (const needle of [SHARED_DIR, WORKSPACE_ROOT]) {
      let at = text.indexOf(needle);
      while (at !== -1) {
        const before = at === 0 ? '' : text[at - 1];
        // The workspace root counts only at the start of an absolute path (not inside `a/b/…`).
        if (needle === SHARED_DIR || before === '' || !/[\w.-]/.test(before ?? '')) {
          problems.push({
            file,
            line: lineOf(text, at),
            message: `mentions a path outside the repository: ${needle}`,
          });
        }
        at = text.indexOf(needle, at + needle.length);
      }
    }

    // Relative links in Markdown.
    if (ext === '.md') {
      const stripped = blankFences(text);
      for (const match of stripped.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
        const target = match[1] ?? '';
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#') || target.startsWith('//'))
          continue;
        const clean = decodeURIComponent(target.split('#')[0]!.split('?')[0]!);
        if (clean === '') continue;
        const resolved = clean.startsWith('/')
          ? clean.slice(1)
          : path.posix.normalize(path.posix.join(dir, clean));
        const line = lineOf(stripped, match.index);
        if (resolved.startsWith('..') || path.posix.isAbsolute(resolved)) {
          problems.push({ file, line, message: `link leaves the repository: ${target}` });
        } else if (!fileSet.has(resolved.replace(/\/$/, '')) && !isDir(resolved)) {
          problems.push({ file, line, message: `broken link: ${target}` });
        }
      }
    }

    // Cited documents (in docs: the whole text; in code: comments only).
    // Markdown: not inside fenced code, and not a link target (those are checked as links above).
    const scope = CODE_EXTENSIONS.has(ext)
      ? commentText(text)
      : ext === '.md'
        ? blankFences(text).replace(/\]\(([^)]*)\)/g, (link) => link.replace(/[^\n]/g, ' '))
        : text;
    for (const match of scope.matchAll(CITATION)) {
      const cited = match[1] ?? '';
      if (/^https?:/.test(cited) || cited.includes('://')) continue;
      const line = lineOf(scope, match.index);
      // Text just before: a URL or a path outside the repository (reported above) is not a citation of ours.
      const before = scope.slice(Math.max(0, match.index - 200), match.index);
      if (/(https?:\/\/|github\.com\/)[^\s)]*$/.test(before)) continue;
      const candidates = [
        path.posix.normalize(path.posix.join(dir, cited)),
        path.posix.normalize(cited),
        ...(cited.includes('/') ? [] : (byBaseName.get(cited) ?? [])),
      ];
      const doc = candidates.find((candidate) => fileSet.has(candidate));
      if (doc === undefined) {
        problems.push({ file, line, message: `cites a document the repository does not hold: ${cited}` });
        continue;
      }
      const sections = [...(match[2] ?? '').matchAll(/([A-Z]?\d+(?:\.\d+)*)/g)].map((m) => m[1] ?? '');
      if (sections.length === 0) continue;
      const known = sectionsOf(doc);
      for (const section of sections) {
        if (!known.has(section)) {
          problems.push({
            file,
            line,
            message: `cites ${cited} §${section}, which has no such section heading`,
          });
        }
      }
    }
  }

  // Workflows.
  const workflows = files.filter((file) => /^\.github\/workflows\/[^/]+\.ya?ml$/.test(file));
  for (const file of workflows) {
    for (const message of checkWorkflowFile(readFileSync(path.join(root, file), 'utf8'))) {
      problems.push({ file, line: 0, message });
    }
  }
  return { files: checked, problems };
}

function main(): void {
  const root = path.resolve(process.argv[2] ?? '.');
  if (!existsSync(root)) {
    console.error(`docs:check: no such folder ${root}`);
    process.exit(2);
  }
  const { files, problems } = checkRepository(root);
  for (const problem of problems) console.log(`${problem.file}:${problem.line}: ${problem.message}`);
  if (problems.length > 0) {
    console.log(`docs:check failed problems=${problems.length} files=${files}`);
    process.exit(1);
  }
  console.log(`docs:check ok files=${files}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
