// "Export logs": the log files and a short description of the system in one zip, for a bug
// report. The files are already redacted; the settings included are the non-secret ones.

import { createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import yazl from 'yazl';
import type { LogExportResult } from '../../src-shared/domain.js';

export interface ExportLogsInput {
  readonly files: readonly string[];
  readonly destination: string;
  /** Written as `system.json` in the zip. */
  readonly system: Record<string, unknown>;
  readonly now?: number;
}

export async function exportLogs(input: ExportLogsInput): Promise<LogExportResult> {
  const zip = new yazl.ZipFile();
  const mtime = new Date(input.now ?? Date.now());
  let count = 0;
  for (const file of input.files) {
    let data: Buffer;
    try {
      data = await fsp.readFile(file);
    } catch {
      continue; // rotated away between listing and reading
    }
    zip.addBuffer(data, `logs/${path.basename(file)}`, { mtime, mode: 0o100644 });
    count += 1;
  }
  zip.addBuffer(Buffer.from(`${JSON.stringify(input.system, null, 2)}\n`), 'system.json', {
    mtime,
    mode: 0o100644,
  });
  zip.end();
  await fsp.mkdir(path.dirname(input.destination), { recursive: true });
  const tmp = `${input.destination}.part`;
  await pipeline(zip.outputStream, createWriteStream(tmp, { mode: 0o600 }));
  await fsp.rename(tmp, input.destination);
  const { size } = await fsp.stat(input.destination);
  return { path: input.destination, bytes: size, files: count };
}

export function defaultExportName(now: number): string {
  return `fz-desktop-logs-${new Date(now).toISOString().slice(0, 19).replace(/[:T]/g, '-')}.zip`;
}
