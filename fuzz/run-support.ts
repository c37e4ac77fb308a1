/** Shared by the runner and the CI test. */

/** The command line that replays a failure. */
export function replayCommand(target: string, seed: number, path: string): string {
  return `npm run fuzz -- --target ${target} --seed ${seed} --path ${path}`;
}
