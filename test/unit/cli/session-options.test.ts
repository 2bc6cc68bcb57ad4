import { describe, expect, it } from 'vitest';

import { sessionSelector } from '../../../src/cli/commands/session-options.js';

describe('the session selector (--pid, --tty, --all-ssh)', () => {
  it('takes a positive process id, a pts and --all-ssh', () => {
    expect(sessionSelector({ pid: '452' })).toEqual({ pid: 452, allSsh: false });
    expect(sessionSelector({ tty: '/dev/pts/3' })).toEqual({ tty: 'pts/3', allSsh: false });
    expect(sessionSelector({ 'all-ssh': true })).toEqual({ allSsh: true });
  });

  it('refuses a --pid that is not a process id, with exit 2 and a hint (behaviour 5)', () => {
    for (const pid of ['abc', '0', '-3', '1.5', '', '12abc']) {
      expect(() => sessionSelector({ pid }), `--pid ${pid}`).toThrowError(
        expect.objectContaining({
          code: 'USAGE',
          exit: 2,
          hint: expect.stringContaining('--pid $$'),
        }),
      );
    }
  });

  it('refuses a --tty that is not a pty', () => {
    expect(() => sessionSelector({ tty: 'tty1' })).toThrowError(
      expect.objectContaining({ code: 'USAGE' }),
    );
  });
});
