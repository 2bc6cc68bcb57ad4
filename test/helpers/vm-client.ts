/** What a test does with a running guest, bound to its connection (`npm run vm` and the guest tests use it). */
import { installPackage, type PackageOptions } from './vm-package.js';
import { openSession, type VmSession } from './vm-session.js';
import {
  copyIn,
  copyOut,
  execInGuest,
  type ExecResult,
  readBootId,
  runInGuest,
  serialTail,
  type VmConnection,
  waitForNewBoot,
  waitForSsh,
} from './vm-ssh.js';

export interface VmClient {
  connection: VmConnection;
  /** Exit code and both streams; never throws on a non-zero exit. */
  exec(command: string, options?: { timeoutMs?: number; input?: string }): Promise<ExecResult>;
  /** stdout; throws unless the command exits 0. */
  run(command: string, options?: { timeoutMs?: number; input?: string }): Promise<string>;
  copyIn(local: string, remote: string): Promise<void>;
  copyOut(remote: string, local: string): Promise<void>;
  /** An interactive `ssh -tt` session, lines stamped with host time. */
  openSession(command?: string, user?: string): VmSession;
  bootId(): Promise<string>;
  waitForSsh(timeoutMs?: number): Promise<number>;
  waitForNewBoot(
    previousBootId: string,
    timeoutMs?: number,
  ): Promise<{ bootId: string; ms: number }>;
  /** The Debian package, installed with apt-get as a user would. */
  installPackage(options?: PackageOptions): Promise<void>;
  serialTail(lines?: number): string;
}

export function connectGuest(c: VmConnection): VmClient {
  return {
    connection: c,
    exec: (command, options) => execInGuest(c, command, options),
    run: (command, options) => runInGuest(c, command, options),
    copyIn: (local, remote) => copyIn(c, local, remote),
    copyOut: (remote, local) => copyOut(c, remote, local),
    openSession: (command, user) => openSession(c, command, user),
    bootId: () => readBootId(c),
    waitForSsh: (timeoutMs) => waitForSsh(c, timeoutMs),
    waitForNewBoot: (previousBootId, timeoutMs) => waitForNewBoot(c, previousBootId, timeoutMs),
    installPackage: (options) => installPackage(c, options),
    serialTail: (lines) => serialTail(c, lines),
  };
}
