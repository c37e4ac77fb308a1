import { buildUiAssets } from './harness.js';

export default async function setup(): Promise<void> {
  await buildUiAssets();
}
