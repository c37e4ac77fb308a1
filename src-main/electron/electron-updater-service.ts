// The Electron wiring of the updater: electron-updater's `autoUpdater` (the platform's updater,
// Electron's net stack, the packaged app's paths) handed to AutoUpdaterService, which holds all
// the logic and is tested in plain Node against a local feed. The feed comes from the settings or
// the managed configuration; without one, the feed baked into the build (app-update.yml) applies.

import { app } from 'electron';
import electronUpdater from 'electron-updater';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logging/logger.js';
import { AutoUpdaterService } from '../update/auto-updater-service.js';
import { parseBuiltInFeed } from '../update/updater.js';

function readBuiltInFeed(): string | null {
  try {
    return parseBuiltInFeed(readFileSync(path.join(process.resourcesPath, 'app-update.yml'), 'utf8'));
  } catch {
    return null;
  }
}

export class ElectronUpdaterService extends AutoUpdaterService {
  constructor(logger: Logger) {
    super({
      updater: electronUpdater.autoUpdater,
      logger,
      isPackaged: app.isPackaged,
      builtInFeed: readBuiltInFeed,
    });
  }
}
