/**
 * What a failed criu says: the Error lines of its log, and when the runner or the
 * restore script killed it at its bound, that it was, since a stopped or hung criu
 * logs no error of its own.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { LeapError } from '../../../src/errors.js';
import { criuError } from '../../../src/tools/criu.js';
import { timedOut } from '../../../src/tools/wait.js';

const logFile = join(mkdtempSync(join(tmpdir(), 'kl-criu-error-')), 'dump.log');
writeFileSync(logFile, '(00.010) Seized task 42\n(00.020) Dumping pages\n');

describe('a failed criu', () => {
  it('killed by the runner at its bound says so, and that the bound comes from the memory', () => {
    const cause = new LeapError('COMMAND_TIMEOUT', 'criu dump ... timed out after 61000 ms');
    const error = criuError('dump', logFile, cause);
    expect(error.code).toBe('CRIU_DUMP_FAILED');
    expect(error.message).toBe(`criu dump outran its bound and was killed (log: ${logFile})`);
    expect(error.hint).toMatch(/sized from the session's memory/);
  });

  it('killed by the restore script at restore.restore_timeout says so too', () => {
    const error = criuError('restore', logFile, timedOut(20_000, 'criu restore', 'x'));
    expect(error.message).toMatch(/^criu restore outran its bound and was killed/);
    expect(error.hint).toMatch(/restore\.restore_timeout/);
  });

  it('that exited with an error is a failure, with the Error lines of its log', () => {
    writeFileSync(logFile, '(00.010) Seized task 42\n(00.020) Error (criu/sk-inet.c:1): no\n');
    const cause = new LeapError('COMMAND_FAILED', 'criu dump exited with 1');
    const error = criuError('dump', logFile, cause);
    expect(error.message).toMatch(
      /^criu dump failed \(log: .*\):\n.*Error \(criu\/sk-inet\.c:1\): no/s,
    );
    expect(error.hint).toMatch(/full story/);
  });
});
