import { describe, expect, it } from 'vitest';

import { criuLogErrors } from '../../../src/tools/criu.js';
import { criuDumpArgs, criuRestoreArgs, externalFileKey } from '../../../src/tools/criu-args.js';
import { criuVersionNumber } from '../../../src/tools/versions.js';

const common = {
  imagesDir: '/s/images',
  logFile: '/s/logs/dump.log',
  verbosity: 4 as const,
  tcpEstablished: true,
  extUnixSk: true,
  fileLocks: true,
  manageCgroups: 'ignore' as const,
  extra: [],
};

describe('criu argv builders', () => {
  it('builds the dump argv the plan promises, config skipped first', () => {
    expect(
      criuDumpArgs({
        ...common,
        tree: 441,
        linkRemap: true,
        ghostLimitBytes: 3145728,
        externals: ['file[95:28c]', 'unix[20001]'],
        networkLock: 'iptables',
        finalState: 'dead',
      }),
    ).toEqual([
      'dump',
      '--no-default-config',
      '-t',
      '441',
      '-D',
      '/s/images',
      '-o',
      '/s/logs/dump.log',
      '-v4',
      '--tcp-established',
      '--ext-unix-sk',
      '--file-locks',
      '--manage-cgroups=ignore',
      '--link-remap',
      '--ghost-limit',
      '3145728',
      '--network-lock',
      'iptables',
      '--external',
      'file[95:28c]',
      '--external',
      'unix[20001]',
    ]);
  });

  it('adds --leave-running for a rehearsal and config extras last', () => {
    const argv = criuDumpArgs({
      ...common,
      tree: 1,
      linkRemap: true,
      ghostLimitBytes: undefined,
      externals: [],
      networkLock: 'iptables',
      finalState: 'running',
      extra: ['--timeout', '10'],
    });
    expect(argv.slice(-3)).toEqual(['--leave-running', '--timeout', '10']);
    expect(argv).not.toContain('--ghost-limit');
  });

  it('builds the restore argv with inherit-fd partners under the dump keys', () => {
    expect(
      criuRestoreArgs({
        ...common,
        logFile: '/s/logs/restore.log',
        actionScript: '/s/criu-action.sh',
        inheritFds: [
          { fd: 3, key: 'file[95:28c]' },
          { fd: 4, key: 'socket:[20001]' },
        ],
      }),
    ).toEqual([
      'restore',
      '--no-default-config',
      '-D',
      '/s/images',
      '-o',
      '/s/logs/restore.log',
      '-v4',
      '--tcp-established',
      '--ext-unix-sk',
      '--file-locks',
      '--manage-cgroups=ignore',
      '--action-script',
      '/s/criu-action.sh',
      '--inherit-fd',
      'fd[3]:file[95:28c]',
      '--inherit-fd',
      'fd[4]:socket:[20001]',
    ]);
  });

  it('leaves the restored tree stopped when asked, for the resume to wake once every tree is restored', () => {
    const args = { ...common, logFile: '/l', actionScript: undefined, inheritFds: [] };
    expect(criuRestoreArgs({ ...args, finalState: 'stopped' })).toContain('--leave-stopped');
    expect(criuRestoreArgs(args)).not.toContain('--leave-stopped');
  });

  it('writes external file keys in lowercase hex (the decimal form is silently not matched)', () => {
    expect(externalFileKey(175, 682)).toBe('file[af:2aa]');
  });

  it('compares versions as integers', () => {
    expect(criuVersionNumber('3.17.1')).toBe(31701);
    expect(criuVersionNumber('4.0')).toBe(40000);
  });
});

describe('criu log errors', () => {
  it('quotes each Error line with up to five lines before it, and maps a known signature to a hint', () => {
    const log = [
      '(00.1) a',
      '(00.2) b',
      '(00.3) c',
      '(00.4) d',
      '(00.5) e',
      '(00.6) f',
      "(00.7) Error (criu/files-reg.c:1001): Can't dump ghost file /usr/sbin/sshd of 1265432 size, increase limit",
      '(00.8) after',
    ].join('\n');
    const { excerpt, hint } = criuLogErrors(log);
    expect(excerpt.split('\n')).toHaveLength(6);
    expect(excerpt).not.toContain('(00.1)');
    expect(excerpt).not.toContain('after');
    expect(hint).toMatch(/--ghost-limit/);
  });
});
