/**
 * Needs that a test states up front. A missing need fails the test loudly with
 * what to install; it never skips, so CI cannot go green by doing nothing.
 */
import { execFileSync } from 'node:child_process';

export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('this test needs root: run the test suite as root (CI does)');
}

export function requireCommand(command: string, debianPackage: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    throw new Error(
      `this test needs ${command}: apt-get install ${debianPackage} (scripts/setup-host.sh installs it)`,
    );
  }
}
