import { describe, expect, it } from 'vitest';

import { LeapError } from '../../../src/errors.js';
import { bootClearedDirs, parseClearedDirs } from '../../../src/tools/tmpfiles.js';
import { ScriptedRunner } from '../../helpers/flow.js';

/** `systemd-tmpfiles --cat-config` on Debian 12 (systemd 252), its clearing lines and the lines around them. */
const BOOKWORM = `# /usr/lib/tmpfiles.d/debian.conf
# Type Path    Mode UID  GID  Age Argument
L /run/shm     -    -    -    -   /dev/shm
d /run/sendsigs.omit.d 0755 root root -

# /usr/lib/tmpfiles.d/tmp.conf
# Clear tmp directories separately, to make them easier to override
D /tmp 1777 root root -
#q /var/tmp 1777 root root 30d

# /usr/lib/tmpfiles.d/systemd-tmp.conf
# Exclude namespace mountpoints created with PrivateTmp=yes
x /tmp/systemd-private-%b-*
X /tmp/systemd-private-%b-*/tmp
R! /tmp/systemd-private-*
R! /var/tmp/systemd-private-*

# /usr/lib/tmpfiles.d/x11.conf
D! /tmp/.X11-unix 1777 root root 10d
D! /tmp/.ICE-unix 1777 root root 10d
`;

describe('what systemd-tmpfiles says the boot clears', () => {
  it('takes the literal paths of D and R lines, any modifier after the letter, and nothing else', () => {
    expect(parseClearedDirs(BOOKWORM)).toEqual(['/tmp', '/tmp/.X11-unix', '/tmp/.ICE-unix']);
    expect(
      parseClearedDirs('D- /run/a/ 0755 - - -\nR!= /var/cache/b\n  D   /srv/c\nd /srv/d\n'),
    ).toEqual(['/run/a', '/var/cache/b', '/srv/c']);
  });

  it('skips globs, specifiers and quoted or relative paths, which name what the boot clears only once expanded', () => {
    expect(
      parseClearedDirs('R /tmp/x-*\nD /home/%u/tmp\nD "/tmp/quoted dir"\nD tmp\nR /var/[ab]\n'),
    ).toEqual([]);
  });

  it('asks systemd-tmpfiles --cat-config; without its answer none, and why', async () => {
    const runner = new ScriptedRunner().on(['systemd-tmpfiles', '--cat-config'], () => ({
      stdout: BOOKWORM,
    }));
    expect(await bootClearedDirs(runner)).toEqual({
      dirs: ['/tmp', '/tmp/.X11-unix', '/tmp/.ICE-unix'],
    });
    const missing = new ScriptedRunner().on(['systemd-tmpfiles'], () => {
      throw new LeapError('TOOL_MISSING', 'systemd-tmpfiles is not installed');
    });
    expect(await bootClearedDirs(missing)).toEqual({
      dirs: [],
      why: 'systemd-tmpfiles is not installed',
    });
  });
});
