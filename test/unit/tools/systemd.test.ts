import { describe, expect, it } from 'vitest';

import type { Runner, RunRequest } from '../../../src/tools/runner.js';
import { startTransientService, type TransientUnit } from '../../../src/tools/systemd.js';

/** Records each request and succeeds. */
function recordingRunner(): Runner & { requests: RunRequest[] } {
  const requests: RunRequest[] = [];
  return {
    requests,
    run: async (request) => (
      requests.push(request),
      {
        argv: [request.file, ...(request.args ?? [])],
        exitCode: 0,
        stdout: '',
        stderr: '',
        durationMs: 1,
      }
    ),
    loggingTo() {
      return this;
    },
  };
}

const WORKER: TransientUnit = {
  unit: 'kernel-leap-worker-R1',
  command: ['/usr/local/bin/node', '/opt/kl.mjs', 'worker', '--run', 'R1'],
  detached: true,
  description: 'kernel-leap worker for run R1',
  viaSystemBus: false,
};

describe('transient services', () => {
  it('start through systemd-run where systemd is in sight', async () => {
    const runner = recordingRunner();
    await startTransientService(runner, WORKER);
    expect(runner.requests[0]).toMatchObject({ file: 'systemd-run' });
    expect(runner.requests[0]?.args).toEqual([
      '--unit=kernel-leap-worker-R1',
      '--collect',
      '--no-block',
      '--quiet',
      '--description=kernel-leap worker for run R1',
      '-p',
      'KillMode=process',
      '-p',
      'SendSIGHUP=no',
      '--',
      '/usr/local/bin/node',
      '/opt/kl.mjs',
      'worker',
      '--run',
      'R1',
    ]);
  });

  it('start through the system bus from a pid namespace, with the same properties and the options after --', async () => {
    const runner = recordingRunner();
    await startTransientService(runner, { ...WORKER, viaSystemBus: true });
    expect(runner.requests[0]).toMatchObject({ file: 'busctl' });
    expect(runner.requests[0]?.args).toEqual([
      '--quiet',
      '--',
      'call',
      'org.freedesktop.systemd1',
      '/org/freedesktop/systemd1',
      'org.freedesktop.systemd1.Manager',
      'StartTransientUnit',
      'ssa(sv)a(sa(sv))',
      'kernel-leap-worker-R1.service',
      'fail',
      '5',
      'Description',
      's',
      'kernel-leap worker for run R1',
      'CollectMode',
      's',
      'inactive-or-failed',
      'ExecStart',
      'a(sasb)',
      '1',
      '/usr/local/bin/node',
      '5',
      '/usr/local/bin/node',
      '/opt/kl.mjs',
      'worker',
      '--run',
      'R1',
      'false',
      'KillMode',
      's',
      'process',
      'SendSIGHUP',
      'b',
      'false',
      '0',
    ]);
  });

  it('keep $ literal, and run the stop-post command however the service ended, on both paths', async () => {
    const unit: TransientUnit = {
      ...WORKER,
      command: ['/usr/local/bin/node', '--set', 'x.y=$HOME'],
      stopPost: ['/bin/sh', '-c', "test -e '/r/outcome' || exec 'a b'"],
    };
    const run = recordingRunner();
    await startTransientService(run, unit);
    expect(run.requests[0]?.args).toEqual(
      expect.arrayContaining([
        '-p',
        'ExecStopPost="/bin/sh" "-c" "test -e \'/r/outcome\' || exec \'a b\'"',
        '--',
        '/usr/local/bin/node',
        '--set',
        'x.y=$$HOME',
      ]),
    );
    const bus = recordingRunner();
    await startTransientService(bus, { ...unit, viaSystemBus: true });
    const args = bus.requests[0]?.args ?? [];
    expect(args.slice(args.indexOf('ExecStart'), args.indexOf('ExecStart') + 7)).toEqual([
      'ExecStart',
      'a(sasb)',
      '1',
      '/usr/local/bin/node',
      '3',
      '/usr/local/bin/node',
      '--set',
    ]);
    expect(args).toContain('x.y=$$HOME');
    expect(args.slice(args.indexOf('ExecStopPost'))).toEqual([
      'ExecStopPost',
      'a(sasb)',
      '1',
      '/bin/sh',
      '3',
      '/bin/sh',
      '-c',
      "test -e '/r/outcome' || exec 'a b'",
      'false',
      '0',
    ]);
  });

  it.each([
    {
      why: 'bounds the stop, ExecStopPost= included (systemd would stop it at 90 s)',
      set: { stopTimeoutS: 420 },
      flag: 'TimeoutStopSec=420',
      property: ['TimeoutStopUSec', 't', '420000000'],
    },
    {
      why: "keeps the unit and its criu off the OOM killer's list",
      set: { oomScoreAdjust: -1000 },
      flag: 'OOMScoreAdjust=-1000',
      property: ['OOMScoreAdjust', 'i', '-1000'],
    },
  ])('$why, on both paths', async ({ set, flag, property }) => {
    const unit: TransientUnit = { ...WORKER, ...set };
    const run = recordingRunner();
    await startTransientService(run, unit);
    expect(run.requests[0]?.args).toEqual(expect.arrayContaining(['-p', flag]));
    const bus = recordingRunner();
    await startTransientService(bus, { ...unit, viaSystemBus: true });
    const args = bus.requests[0]?.args ?? [];
    const at = args.indexOf(property[0] ?? '');
    expect(args.slice(at, at + 3)).toEqual(property);
    // The property count busctl reads covers it.
    const countOf = (a: readonly string[]) => Number(a[a.indexOf('fail') + 1]);
    const without = recordingRunner();
    await startTransientService(without, { ...WORKER, viaSystemBus: true });
    expect(countOf(args)).toBe(countOf(without.requests[0]?.args ?? []) + 1);
  });
});
