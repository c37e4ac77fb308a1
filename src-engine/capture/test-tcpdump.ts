/**
 * Tests only: reads a pcap file with the real tcpdump, the check that our files are what tools
 * accept. tcpdump is a project dependency (scripts/setup.sh installs it); a machine without it
 * fails these tests with a message saying so rather than skipping them, so a missing tool can
 * never pass for a working capture.
 */
import { execFileSync } from 'node:child_process';

export function readWithTcpdump(file: string): string {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'pipe' });
  } catch {
    throw new Error('tcpdump is not installed: run `npm run setup` (or apt-get install tcpdump)');
  }
  // -n: no name lookups; -tt: raw epoch timestamps. -r reads the file
  // before tcpdump drops root, so a 0600 file of root's is fine.
  return execFileSync('tcpdump', ['-n', '-tt', '-r', file], { encoding: 'utf8', stdio: 'pipe' });
}
