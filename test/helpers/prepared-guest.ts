/**
 * One guest for all the tests of a file that does not need a fresh one per test
 * (needs root and QEMU): booted before them with a local S3 beside it and this
 * build of kernel-leap installed, stopped after them with the sessions they opened.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';

import { prepareGuest } from './leap.js';
import { LocalS3 } from './s3rver.js';
import { bootGuest, type Vm } from './vm-boot.js';
import type { VmSession } from './vm-session.js';

export interface PreparedGuest {
  readonly guest: Vm;
  readonly s3: LocalS3;
  /** An ssh session from the host running `command`, closed after the file's tests. */
  open(command: string, user?: string): VmSession;
}

export function usePreparedGuest(): PreparedGuest {
  let guest: Vm | undefined;
  let s3: LocalS3 | undefined;
  const sessions: VmSession[] = [];
  const started = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error('the guest is not up: use it inside a test, after beforeAll');
    return value;
  };
  beforeAll(async () => {
    s3 = await LocalS3.start();
    guest = await bootGuest({ log: console.log });
    await prepareGuest(guest, s3);
  });
  // A failed test prints what its sessions printed: often the only trace of why a run went wrong.
  beforeEach(({ onTestFailed }) => {
    const first = sessions.length;
    onTestFailed(() => printSessions(sessions.slice(first)));
  });
  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close()));
    await guest?.stop();
    await s3?.stop();
  });
  return {
    get guest() {
      return started(guest);
    },
    get s3() {
      return started(s3);
    },
    open(command, user) {
      const session = started(guest).openSession(command, user);
      sessions.push(session);
      return session;
    },
  };
}

/** The last lines of each session but its tickers', as the host's ssh client read them. */
function printSessions(opened: VmSession[]): void {
  opened.forEach((session, i) => {
    const said = session.lines.filter((l) => !/^tick/.test(l.text)).map((l) => l.text);
    const tail = said.slice(-SESSION_TAIL_LINES).join('\n');
    console.log(`--- session ${i + 1} of the failed test, last lines ---\n${tail}`);
  });
}

const SESSION_TAIL_LINES = 60;
