import { describe, expect, it } from 'vitest';

import { LeapError } from '../../../../src/errors.js';
import { toolFinding } from '../../../../src/steps/plan/check.js';
import type { Runner } from '../../../../src/tools/runner.js';
import { PROBE_TIMEOUT_MS, probeTool } from '../../../../src/tools/versions.js';

/** A runner whose every command fails with `error`, recording the deadline it was given. */
function failingRunner(error: LeapError, deadlines: Array<number | undefined>): Runner {
  return {
    run: async (request) => {
      deadlines.push(request.timeoutMs);
      throw error;
    },
    loggingTo() {
      return this;
    },
  };
}

describe('check: a tool that is slow is not a tool that is broken', () => {
  const crit = { tool: 'crit', args: ['--help'], pattern: /(usage): crit/ };

  it('a probe that outruns its deadline is a warning that says to check again, not a fail that says to reinstall', async () => {
    const deadlines: Array<number | undefined> = [];
    const slow = await probeTool(
      failingRunner(
        new LeapError('COMMAND_TIMEOUT', `crit --help timed out after ${PROBE_TIMEOUT_MS} ms`),
        deadlines,
      ),
      crit,
    );
    expect(deadlines).toEqual([PROBE_TIMEOUT_MS]);
    expect(slow).toMatchObject({ tool: 'crit', installed: true, timedOut: true });
    expect(toolFinding(slow)).toMatchObject({
      level: 'warn',
      item: 'crit',
      hint: expect.stringMatching(/run check again/),
    });
  });

  it('a probe that exits non-zero still fails, naming the package to reinstall', async () => {
    const broken = await probeTool(
      failingRunner(
        new LeapError(
          'COMMAND_FAILED',
          'crit --help exited with 1: No module named google.protobuf',
        ),
        [],
      ),
      crit,
    );
    expect(broken.timedOut).toBeUndefined();
    expect(toolFinding(broken)).toMatchObject({
      level: 'fail',
      item: 'crit',
      detail: expect.stringMatching(/^installed but fails: .*protobuf/),
      hint: 'reinstall criu',
    });
  });
});
