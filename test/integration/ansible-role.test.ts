/**
 * The Ansible role without a guest (needs ansible-core, which scripts/setup-host.sh
 * installs): the playbook parses, the config it templates is one kernel-leap loads,
 * runs.py reads a state dir, and the filters turn registered results into each
 * host's entry, the fleet report and its table. test/guest/fleet.test.ts runs it
 * for real against two guests.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { requireCommand } from '../helpers/require.js';

const ROLE = resolve('ansible/roles/kernel_leap');
const PLUGIN = join(ROLE, 'filter_plugins/kernel_leap.py');
const TARGET = '6.1.0-56-cloud-amd64';
const OLD = '6.1.0-55-cloud-amd64';

/** Ansible wants a UTF-8 locale, and its own temp dir keeps the test's leftovers in one place. */
function ansibleEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LC_ALL: 'C.UTF-8',
    ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-tmp'),
    ANSIBLE_NOCOLOR: '1',
  };
}

/** Calls the role's filters (plain Python functions) with JSON arguments, all in one python3 process. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each filter returns JSON of its own shape
function filters(...calls: Array<[string, ...unknown[]]>): any[] {
  const py = [
    'import importlib.util, json, sys',
    'spec = importlib.util.spec_from_file_location("kl", sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)',
    'print(json.dumps([getattr(m, fn)(*args) for fn, *args in json.load(sys.stdin)]))',
  ].join('\n');
  return JSON.parse(
    execFileSync('python3', ['-c', py, PLUGIN], { input: JSON.stringify(calls) }).toString(),
  );
}

const jsonLine = (o: object) => JSON.stringify({ type: 'result', ...o });

describe('the kernel_leap Ansible role', () => {
  let dir: string;
  beforeAll(() => {
    requireCommand('ansible-playbook', 'ansible-core');
    dir = mkdtempSync(join(tmpdir(), 'kl-ansible-'));
  });

  it('the playbook passes ansible-playbook --syntax-check', () => {
    const out = execFileSync(
      'ansible-playbook',
      ['--syntax-check', '-i', 'localhost,', 'ansible/upgrade.yml'],
      { env: ansibleEnv(dir), stdio: 'pipe' },
    ).toString();
    expect(out).toContain('playbook: ansible/upgrade.yml');
  });

  it('templates a config that kernel-leap loads: only the keys set, booleans as true/false', () => {
    const vars = join(dir, 'vars.json');
    const conf = join(dir, 'kernel-leap.conf');
    writeFileSync(
      vars,
      JSON.stringify({
        kernel_leap_config: { restore: { address_timeout: 90 } },
        kernel_leap_s3: {
          endpoint: 'http://10.0.2.2:4568',
          bucket: 'kernel-leap-logs',
          prefix: 'fleet',
          path_style: true,
        },
      }),
    );
    execFileSync(
      'ansible',
      [
        'localhost',
        '-c',
        'local',
        '-m',
        'template',
        '-a',
        `src=${join(ROLE, 'templates/kernel-leap.conf.j2')} dest=${conf}`,
        '-e',
        `@${vars}`,
      ],
      { env: ansibleEnv(dir), stdio: 'pipe' },
    );
    const text = readFileSync(conf, 'utf8');
    expect(text).toContain('path_style = true');
    expect(text).not.toContain('[kexec]');
    const { config } = loadConfig({ file: conf, env: {} });
    expect(config.s3).toMatchObject({
      endpoint: 'http://10.0.2.2:4568',
      bucket: 'kernel-leap-logs',
      prefix: 'fleet',
      path_style: true,
    });
    expect(config.restore.address_timeout).toBe(90);
    expect(config.kexec.verify_checksums).toBe(true);
  });

  it('runs.py lists the runs since a stamp: outcome, report, upload, session and which one is latest', () => {
    const state = join(dir, 'state');
    const run = (id: string, outcome: string | undefined, upload: object, ptys: number[]) => {
      const runDir = join(state, 'runs', id);
      mkdirSync(runDir, { recursive: true });
      writeFileSync(
        join(runDir, 'journal.json'),
        JSON.stringify({
          runId: id,
          host: 'kl-guest',
          command: 'upgrade',
          phases: {
            plan: { status: 'done', outputs: { rootPid: 400, ptys } },
            dump: { status: 'done' },
            upload,
          },
        }),
      );
      if (outcome) writeFileSync(join(runDir, 'outcome'), `${outcome}\n`);
      if (outcome) writeFileSync(join(runDir, 'report.json'), '{}');
    };
    run('20261130T100000Z-0001', 'rehearsed', { status: 'done' }, []);
    run(
      '20261130T120000Z-aaaa',
      'restored',
      {
        status: 'done',
        outputs: { bucket: 'b', prefix: 'p/kl-guest/20261130T120000Z-aaaa', keys: [] },
      },
      [0],
    );
    run('20261130T120000Z-bbbb', undefined, { status: 'pending' }, []);
    symlinkSync('runs/20261130T120000Z-bbbb', join(state, 'latest'));
    const list = () =>
      JSON.parse(
        execFileSync('python3', [
          join(ROLE, 'files/runs.py'),
          state,
          '20261130T110000Z',
        ]).toString(),
      );
    let out = list();
    expect(out.runs.map((r: { runId: string }) => r.runId)).toEqual([
      '20261130T120000Z-aaaa',
      '20261130T120000Z-bbbb',
    ]);
    expect(out.done).toBe(false);
    expect(out.runs[0]).toMatchObject({
      outcome: 'restored',
      final: true,
      latest: false,
      ptys: [0],
      upload: { status: 'done', bucket: 'b' },
    });
    expect(out.runs[1]).toMatchObject({ outcome: null, final: false, latest: true });
    run(
      '20261130T120000Z-bbbb',
      'restored',
      { status: 'failed', error: { code: 'UPLOAD_FAILED', message: 'no store' } },
      [],
    );
    out = list();
    expect(out.done).toBe(true);
    expect(out.runs[1].errors).toEqual(['upload: no store']);
    expect(
      JSON.parse(
        execFileSync('python3', [
          join(ROLE, 'files/runs.py'),
          state,
          '20991231T000000Z',
          '--allow-none',
        ]).toString(),
      ).done,
    ).toBe(true);
  });

  describe('filters', () => {
    const check = (verdict: string, findings: object[] = []) => ({
      rc: verdict === 'fail' ? 1 : 0,
      stdout: jsonLine({ verdict, findings }),
    });
    const plan = (rc: number, risks: object[] = []) => ({
      rc,
      stdout: jsonLine({
        sessions: [
          {
            root: { pid: 452, cmdline: 'sshd: root@pts/0' },
            risks,
            verdict: rc === 0 ? 'go' : 'no-go',
          },
        ],
        leftBehind: [],
        lossRefused: false,
      }),
    });
    const skipped = { skipped: true };

    it('preflight: go, current, or no-go with the reasons of the check, the plan or the rehearsal', () => {
      const runs = JSON.stringify({
        runs: [
          {
            runId: 'R1',
            rehearsal: { verdict: 'no-go', reasons: ['the rehearsal wrote no pstree.img'] },
            errors: [],
          },
        ],
      });
      // As kernel-leap words a failed dump in the rehearsal's reasons: the log's path, then its tail.
      const criuFailed = [
        'criu dump failed (log: /var/lib/kernel-leap/runs/R2/logs/rehearsal.log):',
        '(04.712333) 409 fdinfo 3: pos:                0 flags:                2/0x1',
        'pie: 409: Daemon waits for command',
        '(04.721748) Error (criu/sockets.c:727): sockets: BUG! Unknown socket collected (family 38)',
        '(04.722507) Error (criu/cr-dump.c:1635): Dump files (pid: 409) failed with -1',
        '(05.858052) Error (criu/cr-dump.c:2053): Dumping FAILED.',
      ].join('\n');
      const unknownSocket = JSON.stringify({
        runs: [{ runId: 'R2', rehearsal: { verdict: 'no-go', reasons: [criuFailed] }, errors: [] }],
      });
      const [go, current, noCriu, alg, rehearsal, badConfig, socket] = filters(
        [
          'preflight',
          {
            check: check('warn'),
            kernel: OLD,
            plan: plan(0),
            rehearse: { rc: 0 },
            runs: '{"runs": []}',
          },
          TARGET,
          'a',
        ],
        [
          'preflight',
          { check: check('ok'), kernel: TARGET, plan: skipped, rehearse: skipped },
          TARGET,
          'a',
        ],
        [
          'preflight',
          {
            check: check('fail', [
              {
                level: 'fail',
                item: 'criu',
                detail: 'not installed',
                hint: 'apt-get install criu',
              },
            ]),
            kernel: OLD,
            plan: skipped,
            rehearse: skipped,
          },
          TARGET,
          'a',
        ],
        [
          'preflight',
          {
            check: check('ok'),
            kernel: OLD,
            plan: plan(3, [
              {
                level: 'fail',
                code: 'UNSUPPORTED_FD',
                message: 'fd 3 of python3 (900) is socket:[AF_ALG]',
              },
            ]),
            rehearse: skipped,
          },
          TARGET,
          'a',
        ],
        [
          'preflight',
          { check: check('ok'), kernel: OLD, plan: plan(0), rehearse: { rc: 3, stderr: '' }, runs },
          TARGET,
          'a',
        ],
        [
          'preflight',
          {
            check: {
              rc: 7,
              stdout: JSON.stringify({
                type: 'error',
                code: 'CONFIG',
                message: 'bad [s3] endpoint',
              }),
            },
            kernel: OLD,
          },
          TARGET,
          'a',
        ],
        [
          'preflight',
          {
            check: check('ok'),
            kernel: OLD,
            plan: plan(0),
            rehearse: { rc: 3, stderr: '' },
            runs: unknownSocket,
          },
          TARGET,
          'a',
        ],
      );
      expect(go).toMatchObject({ verdict: 'go', outcome: 'pending', kernelBefore: OLD });
      expect(current).toMatchObject({ verdict: 'current', outcome: 'current' });
      expect(noCriu).toMatchObject({
        verdict: 'no-go',
        stage: 'check',
        reasons: ['criu: not installed (apt-get install criu)'],
      });
      expect(alg).toMatchObject({ verdict: 'no-go', stage: 'plan' });
      expect(alg.reasons[0]).toContain('UNSUPPORTED_FD: fd 3 of python3');
      expect(rehearsal).toMatchObject({
        verdict: 'no-go',
        stage: 'rehearse',
        reasons: ['the rehearsal wrote no pstree.img'],
        rehearsalRuns: ['R1'],
      });
      expect(badConfig).toMatchObject({ verdict: 'no-go', reasons: ['CONFIG: bad [s3] endpoint'] });
      expect(socket).toMatchObject({
        verdict: 'no-go',
        stage: 'rehearse',
        sessionRoots: ['sshd: root@pts/0'],
      });
      expect(socket.reasons).toEqual([
        'criu dump failed: sockets: BUG! Unknown socket collected (family 38); log: /var/lib/kernel-leap/runs/R2/logs/rehearsal.log',
      ]);
      // A no-go host's entry, as preflight made it, goes into the table as it is.
      const lines = (
        filters([
          'table',
          filters(['fleet', [socket], ['a'], TARGET, { serial: 1 }])[0],
        ])[0] as string
      ).split('\n');
      expect(lines[2]).toMatch(
        new RegExp(
          `^a +no-go +${OLD} +- +- +criu dump failed: sockets: BUG! Unknown socket collected \\(family 38\\)`,
        ),
      );
    });

    function reportsFor(host: string, reports: Record<string, object>): string {
      const base = join(dir, 'reports', host);
      for (const [run, report] of Object.entries(reports)) {
        mkdirSync(join(base, run), { recursive: true });
        writeFileSync(join(base, run, 'report.json'), JSON.stringify(report));
      }
      return base;
    }
    const entry = {
      host: 'a',
      target: TARGET,
      kernelBefore: OLD,
      verdict: 'go',
      outcome: 'pending',
    };
    const run = (runId: string, latest: boolean, ptys: number[], outcome = 'restored') => ({
      runId,
      latest,
      ptys,
      outcome,
      final: true,
      host: 'kl-guest',
      errors: [],
      phases: { dump: 'done' },
      upload: { status: 'done', bucket: 'logs', prefix: `fleet/kl-guest/${runId}` },
    });
    const report = (outcome: string, downtimeMs: number, remapped: string[] = []) => ({
      outcome,
      downtimeMs,
      remapped,
      leftBehind: [],
      oldKernel: OLD,
      newKernel: TARGET,
      host: 'kl-guest',
    });

    it("upgraded: every session restored, the longest downtime, the caller run is Ansible's own", () => {
      const reports = reportsFor('a', {
        R1: report('restored', 35_000, ['pts/0 -> pts/10']),
        R2: report('restored', 36_500),
      });
      const listing = JSON.stringify({
        done: true,
        runs: [run('R1', false, [0]), run('R2', true, [])],
      });
      const [e] = filters([
        'upgraded',
        entry,
        { rc: 0, stdout: 'run R2 on kl-guest: restored' },
        listing,
        reports,
        { bucket: 'logs' },
        `${TARGET}\n`,
        true,
      ]);
      expect(e).toMatchObject({
        outcome: 'restored',
        oldKernel: OLD,
        newKernel: TARGET,
        kernelAfter: TARGET,
        downtimeMs: 36_500,
        runId: 'R2',
        s3: 's3://logs/fleet/kl-guest/R2/',
        ansibleConnection: 'carried',
        upgradeExit: 0,
        upgradeSaid: 'run R2 on kl-guest: restored',
        sessions: { carried: 2, remapped: ['pts/0 -> pts/10'], lost: [] },
      });
      expect(e.runs).toEqual([
        expect.objectContaining({
          runId: 'R1',
          session: 'pts/0',
          ansible: false,
          downtimeMs: 35_000,
        }),
        expect.objectContaining({
          runId: 'R2',
          session: 'no tty',
          ansible: true,
          downtimeMs: 36_500,
        }),
      ]);
    });

    it("upgraded: a failed restore is the host's outcome and a lost session, as is one not carried; a logout before or under the dump is neither", () => {
      const reports = reportsFor('b', {
        R1: report('failed', 0),
        R2: report('restored', 30_000),
        R3: report('aborted', 0),
        R4: report('aborted', 0),
      });
      const r3 = { ...run('R3', false, [1], 'aborted'), phases: { dump: 'pending' } };
      const r4 = {
        ...run('R4', false, [2], 'aborted'),
        phases: { dump: 'failed' },
        errors: ['dump: criu dump failed'],
      };
      // What the kexec ended without carrying it, as every run's plan recorded it.
      const leftBehind = [
        {
          kind: 'ssh-session',
          pid: 900,
          user: 'alice',
          tty: 'pts/3',
          cmdline: 'sshd: alice@pts/3',
          level: 'fail',
        },
        {
          kind: 'session-process',
          pid: 950,
          user: 'root',
          tty: 'pts/0',
          cmdline: 'tmux',
          level: 'warn',
        },
        {
          kind: 'not-a-session',
          pid: 456,
          user: 'nobody',
          tty: '?',
          cmdline: 'sshd: root@pts/9 3600',
          level: 'warn',
          why: 'it runs /usr/bin/sleep, not sshd',
        },
      ];
      const r1 = {
        ...run('R1', false, [0], 'failed'),
        errors: ['restore: criu restore failed'],
        leftBehind,
      };
      const listing = JSON.stringify({
        done: true,
        runs: [r1, r3, r4, { ...run('R2', true, []), leftBehind }],
      });
      const [e] = filters([
        'upgraded',
        { ...entry, host: 'b' },
        {},
        listing,
        reports,
        { bucket: 'logs' },
        TARGET,
        true,
      ]);
      expect(e).toMatchObject({
        outcome: 'failed',
        reasons: ['restore: criu restore failed'],
        ansibleConnection: 'unknown',
        sessions: {
          carried: 1,
          lost: [
            'pts/0 (run R1: failed)',
            "alice's ssh session on pts/3: pid 900 (sshd: alice@pts/3)",
          ],
          endedBeforeDump: ['R3', 'R4'],
        },
        processesLeftBehind: [
          "pid 950 of root's session (tmux)",
          "pid 456 of nobody's, titled as an ssh session, which it is not (sshd: root@pts/9 3600)",
        ],
      });
    });

    it('upgraded: no run (refused before the worker), or no answer after the kexec', () => {
      const [refused, gone] = filters(
        [
          'upgraded',
          entry,
          { rc: 3, stdout: '', stderr: 'verdict: no-go' },
          '{"runs": []}',
          dir,
          {},
          OLD,
          true,
        ],
        ['upgraded', entry, { unreachable: true, msg: 'timed out' }, '{}', dir, {}, '', false],
      );
      expect(refused).toMatchObject({ outcome: 'no-go', reasons: ['verdict: no-go'] });
      expect(gone).toMatchObject({
        outcome: 'unreachable',
        ansibleConnection: 'lost (reconnected)',
      });
    });

    it('fleet and table: every host of the run, not-reached for a go host the rollout did not get to', () => {
      const a = {
        host: 'a',
        stage: 'upgrade',
        outcome: 'restored',
        oldKernel: OLD,
        newKernel: TARGET,
        downtimeMs: 35_000,
        sessions: { carried: 2, remapped: ['pts/0 -> pts/10'], lost: [] },
        runId: 'R2',
      };
      const c = {
        host: 'c',
        stage: 'plan',
        outcome: 'no-go',
        kernelBefore: OLD,
        reasons: ['sshd: root@pts/0 (452): UNSUPPORTED_FD: AF_ALG'],
      };
      const [fleet] = filters([
        'fleet',
        [a, { host: 'b', verdict: 'go', outcome: 'pending' }, c, {}],
        ['a', 'b', 'c', 'd'],
        TARGET,
        { serial: 1 },
      ]);
      expect(fleet.summary).toEqual({ restored: 1, 'not-reached': 1, 'no-go': 1, error: 1 });
      expect(Object.keys(fleet.hosts)).toEqual(['a', 'b', 'c', 'd']);
      const lines = (filters(['table', fleet])[0] as string).split('\n');
      expect(lines[0]).toMatch(
        /^host +outcome +kernel +downtime +carried\/remapped\/lost +run \(or why\)$/,
      );
      expect(lines[2]).toMatch(
        new RegExp(`^a +restored +${OLD} -> ${TARGET} +35\\.0 s +2/1/0 +R2$`),
      );
      expect(lines[4]).toContain('UNSUPPORTED_FD: AF_ALG');
    });
  });
});
