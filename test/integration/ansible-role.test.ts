/**
 * The Ansible role without a guest (needs ansible-core and ansible-lint, which
 * scripts/setup-host.sh installs): the playbook parses and passes ansible-lint at
 * the production profile, its argument specs cover its defaults, the config it
 * templates is one kernel-leap loads, `--check` on this host (no kernel-leap
 * installed) says what it would do and changes nothing, and the filters turn what
 * kernel-leap printed (the real bundle's `runs --since`) into each host's entry,
 * the fleet report and its table. test/guest/fleet.test.ts runs the playbook for
 * real against three guests, as a non-root user with become.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load.js';
import { copyOfBuild } from '../helpers/built.js';
import { journalRun, NEW_KERNEL, OLD_KERNEL } from '../helpers/journaled-runs.js';
import { requireCommand, requireRoot } from '../helpers/require.js';

const ROLE = resolve('ansible/roles/kernel_leap');
const PLUGIN = join(ROLE, 'filter_plugins/kernel_leap.py');
const SINCE = '20261130T110000Z';

/** Ansible wants a UTF-8 locale, and its own temp dir keeps the test's leftovers in one place. */
function ansibleEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LC_ALL: 'C.UTF-8',
    ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-tmp'),
    ANSIBLE_NOCOLOR: '1',
    NO_COLOR: '1',
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

/** `kernel-leap --json runs --since STAMP` of the real bundle, as Ansible registers it. */
function kernelLeapRuns(stateDir: string, since = SINCE): { rc: number | null; stdout: string } {
  const result = spawnSync(
    process.execPath,
    [copyOfBuild('kl-role-'), '--json', 'runs', '--since', since],
    {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        KERNEL_LEAP_PATHS_STATE_DIR: stateDir,
        KERNEL_LEAP_S3_BUCKET: 'logs',
        KERNEL_LEAP_S3_PREFIX: 'fleet',
      },
    },
  );
  return { rc: result.status, stdout: result.stdout };
}

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

  it("passes Debian's ansible-lint at the production profile, which fails a task without a name or changed_when", () => {
    requireCommand('ansible-lint', 'ansible-lint');
    const lint = (cwd: string) =>
      spawnSync('ansible-lint', ['-c', resolve('.ansible-lint'), 'ansible'], {
        cwd,
        env: ansibleEnv(dir),
        encoding: 'utf8',
      });
    const passed = lint(process.cwd());
    expect(passed.status, passed.stderr + passed.stdout).toBe(0);
    const files =
      /Passed with production profile: 0 failure\(s\), 0 warning\(s\) on (\d+) files/.exec(
        passed.stderr,
      );
    expect(Number(files?.[1])).toBeGreaterThanOrEqual(12);

    const copy = mkdtempSync(join(tmpdir(), 'kl-lint-'));
    cpSync('ansible', join(copy, 'ansible'), { recursive: true });
    const tasks = join(copy, 'ansible/roles/kernel_leap/tasks/fleet-report.yml');
    writeFileSync(tasks, `${readFileSync(tasks, 'utf8')}\n- ansible.builtin.command: echo hi\n`);
    const failed = lint(copy);
    expect(failed.status).not.toBe(0);
    expect(failed.stdout + failed.stderr).toMatch(/name\[missing\][\s\S]*no-changed-when/);
  });

  it('has an argument spec for each variable of its defaults, and none for a variable it does not have', () => {
    const py = [
      'import json, sys, yaml',
      'defaults = set(yaml.safe_load(open(sys.argv[1])))',
      'specs = yaml.safe_load(open(sys.argv[2]))["argument_specs"]',
      'options = {name: set(spec.get("options", {})) for name, spec in specs.items()}',
      'print(json.dumps({"defaults": sorted(defaults), "options": {k: sorted(v) for k, v in options.items()}}))',
    ].join('\n');
    const { defaults, options } = JSON.parse(
      execFileSync('python3', [
        '-c',
        py,
        join(ROLE, 'defaults/main.yml'),
        join(ROLE, 'meta/main.yml'),
      ]).toString(),
    ) as { defaults: string[]; options: Record<string, string[]> };
    expect(Object.keys(options).sort()).toEqual([
      'fleet-report',
      'install',
      'main',
      'preflight',
      'upgrade',
    ]);
    const specified = new Set(Object.values(options).flat());
    expect(defaults.filter((name) => !specified.has(name))).toEqual([]);
    // Set by the playbook, not defaults: the hosts of the run, and whether to print the table.
    expect([...specified].filter((name) => !defaults.includes(name)).sort()).toEqual([
      'kernel_leap_fleet_hosts',
      'kernel_leap_print_table',
    ]);
    expect(options.main).toEqual(options.install);
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

  it('under --check, on this host (no kernel-leap on it), says it would install it and changes nothing', () => {
    // A stand-in package: under --check nothing installs it.
    const deb = join(dir, 'kernel-leap_0.1.0_amd64.deb');
    writeFileSync(deb, 'not a package');
    const report = join(dir, 'check-fleet-report.json');
    const touched = [
      '/var/cache/kernel-leap_0.1.0_amd64.deb',
      '/etc/kernel-leap',
      '/usr/bin/kernel-leap',
      report,
    ];
    const before = touched.map((path) => existsSync(path));
    expect(before.slice(-2)).toEqual([false, false]);
    // As the test's own user on this host; the fleet guest test runs it as a non-root user with become.
    const play = spawnSync(
      'ansible-playbook',
      [
        '--check',
        '-i',
        'localhost,',
        '-c',
        'local',
        'ansible/upgrade.yml',
        '-e',
        'ansible_become=false',
        '-e',
        'ansible_python_interpreter=/usr/bin/python3',
        '-e',
        `kernel_leap_kernel=${NEW_KERNEL}`,
        '-e',
        `kernel_leap_deb=${deb}`,
        '-e',
        `kernel_leap_report=${report}`,
      ],
      { env: ansibleEnv(dir), encoding: 'utf8' },
    );
    expect(play.status, play.stdout.slice(-4000) + play.stderr).toBe(0);
    expect(play.stdout).toContain(
      '"msg": "would install kernel-leap_0.1.0_amd64.deb: apt-get install --reinstall /var/cache/kernel-leap_0.1.0_amd64.deb"',
    );
    expect(play.stdout).toMatch(
      /"localhost +would-install +\S+ +- +- +kernel-leap is not installed yet: the play would install it, then check, plan and rehearse"/,
    );
    expect(play.stdout).toMatch(/^localhost +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0 /m);
    expect(touched.map((path) => existsSync(path))).toEqual(before);
  });

  describe('filters, from what kernel-leap printed', () => {
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
    const entry = {
      host: 'a',
      target: release(),
      kernelBefore: OLD_KERNEL,
      verdict: 'go',
      outcome: 'pending',
    };

    it('preflight: go, current, or no-go with the reasons of the check, the plan or the rehearsal', () => {
      requireRoot();
      // A rehearsal whose dump criu refused, as kernel-leap journals it, read back by `runs --since`.
      const state = mkdtempSync(join(tmpdir(), 'kl-role-state-'));
      const log = `${state}/runs/${SINCE}-aaaa/logs/rehearsal.log`;
      journalRun(state, `${SINCE}-aaaa`, {
        outcome: 'no-go',
        rehearsalNoGo: [
          `criu dump failed (log: ${log}):`,
          '(04.712333) 409 fdinfo 3: pos:                0 flags:                2/0x1',
          'pie: 409: Daemon waits for command',
          '(04.721748) Error (criu/sockets.c:727): sockets: BUG! Unknown socket collected (family 38)',
          '(04.722507) Error (criu/cr-dump.c:1635): Dump files (pid: 409) failed with -1',
          '(05.858052) Error (criu/cr-dump.c:2053): Dumping FAILED.',
        ].join('\n'),
      });
      const noGoRuns = kernelLeapRuns(state);
      expect(noGoRuns.rc).toBe(3);
      const rehearsed = mkdtempSync(join(tmpdir(), 'kl-role-state-'));
      journalRun(rehearsed, `${SINCE}-bbbb`, { outcome: 'rehearsed' });
      const goRuns = kernelLeapRuns(rehearsed);
      expect(goRuns.rc).toBe(0);
      const target = NEW_KERNEL;
      const [go, current, noCriu, alg, socket, badConfig] = filters(
        [
          'preflight',
          {
            check: check('warn'),
            kernel: OLD_KERNEL,
            plan: plan(0),
            rehearse: { rc: 0 },
            runs: goRuns,
          },
          target,
          'a',
        ],
        [
          'preflight',
          { check: check('ok'), kernel: target, plan: skipped, rehearse: skipped },
          target,
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
            kernel: OLD_KERNEL,
            plan: skipped,
          },
          target,
          'a',
        ],
        [
          'preflight',
          {
            check: check('ok'),
            kernel: OLD_KERNEL,
            plan: plan(3, [
              {
                level: 'fail',
                code: 'UNSUPPORTED_FD',
                message: 'fd 3 of python3 (900) is socket:[AF_ALG]',
              },
            ]),
          },
          target,
          'a',
        ],
        [
          'preflight',
          {
            check: check('ok'),
            kernel: OLD_KERNEL,
            plan: plan(0),
            rehearse: { rc: 3, stderr: '' },
            runs: noGoRuns,
          },
          target,
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
            kernel: OLD_KERNEL,
          },
          target,
          'a',
        ],
      );
      expect(go).toMatchObject({
        verdict: 'go',
        outcome: 'pending',
        kernelBefore: OLD_KERNEL,
        rehearsalRuns: [`${SINCE}-bbbb`],
      });
      expect(current).toMatchObject({ verdict: 'current', outcome: 'current' });
      expect(noCriu).toMatchObject({
        verdict: 'no-go',
        stage: 'check',
        reasons: ['criu: not installed (apt-get install criu)'],
      });
      expect(alg).toMatchObject({ verdict: 'no-go', stage: 'plan' });
      expect(alg.reasons[0]).toContain('UNSUPPORTED_FD: fd 3 of python3');
      expect(badConfig).toMatchObject({ verdict: 'no-go', reasons: ['CONFIG: bad [s3] endpoint'] });
      expect(socket).toMatchObject({
        verdict: 'no-go',
        stage: 'rehearse',
        sessionRoots: ['sshd: root@pts/0'],
        rehearsalRuns: [`${SINCE}-aaaa`],
        reasons: [
          `criu dump failed: sockets: BUG! Unknown socket collected (family 38); log: ${log}`,
        ],
      });
      // A no-go host's entry, as preflight made it, goes into the table as it is.
      const lines = (
        filters([
          'table',
          filters(['fleet', [socket], ['a'], target, { serial: 1 }])[0],
        ])[0] as string
      ).split('\n');
      expect(lines[2]).toMatch(
        new RegExp(
          `^a +no-go +${OLD_KERNEL} +- +- +criu dump failed: sockets: BUG! Unknown socket collected \\(family 38\\)`,
        ),
      );
    });

    it('preflight under --check: would install where kernel-leap is missing, would upgrade where check and plan say go', () => {
      const missing = {
        rc: 2,
        failed: true,
        msg: "[Errno 2] No such file or directory: b'/usr/bin/kernel-leap'",
      };
      const [wouldInstall, wouldUpgrade, notInstalled] = filters(
        ['preflight', { check: missing, kernel: OLD_KERNEL }, NEW_KERNEL, 'a', true],
        [
          'preflight',
          { check: check('ok'), kernel: OLD_KERNEL, plan: plan(0) },
          NEW_KERNEL,
          'a',
          true,
        ],
        ['preflight', { check: missing, kernel: OLD_KERNEL }, NEW_KERNEL, 'a', false],
      );
      expect(wouldInstall).toMatchObject({ verdict: 'unknown', outcome: 'would-install' });
      expect(wouldUpgrade).toMatchObject({
        verdict: 'go',
        outcome: 'would-upgrade',
        stage: 'plan',
      });
      // Not under --check, the install ran before: a missing kernel-leap is a no-go with the cause.
      expect(notInstalled).toMatchObject({
        verdict: 'no-go',
        reasons: ["[Errno 2] No such file or directory: b'/usr/bin/kernel-leap'"],
      });
    });

    /** report.json of these runs, as the play fetches them to <reports>/<run>/report.json. */
    function fetched(runIds: string[]): string {
      const reports = mkdtempSync(join(tmpdir(), 'kl-role-reports-'));
      for (const runId of runIds) {
        mkdirSync(join(reports, runId));
        writeFileSync(join(reports, runId, 'report.json'), '{}');
      }
      return reports;
    }

    it("upgraded: every session restored, the longest pause, the caller's run is Ansible's own", () => {
      requireRoot();
      const state = mkdtempSync(join(tmpdir(), 'kl-role-state-'));
      journalRun(state, `${SINCE}-aaaa`, { ptys: [0], outcome: 'restored', downtimeMs: 35_000 });
      journalRun(state, `${SINCE}-bbbb`, { outcome: 'restored', downtimeMs: 36_500 });
      const runs = kernelLeapRuns(state);
      expect(runs.rc).toBe(0);
      const reports = fetched([`${SINCE}-aaaa`]);
      const upgrade = { rc: 0, stdout: `run ${SINCE}-bbbb on kl-guest: restored` };
      const [e, elsewhere] = filters(
        ['upgraded', entry, upgrade, runs, reports, true],
        ['upgraded', { ...entry, target: NEW_KERNEL }, upgrade, runs, reports, true],
      );
      expect(e).toMatchObject({
        outcome: 'restored',
        reasons: [],
        oldKernel: OLD_KERNEL,
        newKernel: NEW_KERNEL,
        kernelAfter: release(),
        downtimeMs: 36_500,
        runId: `${SINCE}-bbbb`,
        s3: expect.stringMatching(new RegExp(`^s3://logs/fleet/.+/${SINCE}-bbbb/$`)),
        ansibleConnection: 'carried',
        upgradeExit: 0,
        upgradeSaid: `run ${SINCE}-bbbb on kl-guest: restored`,
        sessions: {
          carried: 2,
          remapped: [],
          lost: ["alice's ssh session on pts/3: pid 900 (sshd: alice@pts/3)"],
          endedBeforeDump: [],
        },
        processesLeftBehind: [
          "a process of root's session outside the carried tree: pid 950 (tmux)",
        ],
      });
      expect(e.runs).toEqual([
        expect.objectContaining({
          runId: `${SINCE}-aaaa`,
          caller: false,
          ptys: [0],
          downtimeMs: 35_000,
          report: join(reports, `${SINCE}-aaaa`, 'report.json'),
          uploaded: true,
        }),
        expect.objectContaining({ runId: `${SINCE}-bbbb`, caller: true, report: null }),
      ]);
      // Restored, says every run, yet the host runs another kernel than the target.
      expect(elsewhere).toMatchObject({
        outcome: 'error',
        reasons: [`the runs say restored, but the host runs ${release()}, not ${NEW_KERNEL}`],
      });
    });

    it("upgraded: a failed restore is the host's outcome and a lost session; a logout before the dump is neither", () => {
      requireRoot();
      const state = mkdtempSync(join(tmpdir(), 'kl-role-state-'));
      journalRun(state, `${SINCE}-aaaa`, {
        ptys: [0],
        outcome: 'failed',
        error: { phase: 'restore', message: 'criu restore failed' },
      });
      journalRun(state, `${SINCE}-bbbb`, { ptys: [1], outcome: 'aborted', ended: true });
      journalRun(state, `${SINCE}-cccc`, { outcome: 'restored', downtimeMs: 30_000 });
      const runs = kernelLeapRuns(state);
      expect(runs.rc).toBe(8);
      const [e] = filters(['upgraded', entry, {}, runs, fetched([]), true]);
      expect(e).toMatchObject({
        outcome: 'failed',
        reasons: ['restore: criu restore failed'],
        ansibleConnection: 'unknown',
        downtimeMs: 30_000,
        sessions: {
          carried: 1,
          lost: [
            `pts/0 (run ${SINCE}-aaaa: failed)`,
            "alice's ssh session on pts/3: pid 900 (sshd: alice@pts/3)",
          ],
          endedBeforeDump: [`${SINCE}-bbbb`],
        },
      });
    });

    it('upgraded: a run still under way when the wait ran out, no run at all, or no answer after the kexec', () => {
      requireRoot();
      const state = mkdtempSync(join(tmpdir(), 'kl-role-state-'));
      journalRun(state, `${SINCE}-aaaa`, { outcome: 'dumped' });
      const runs = kernelLeapRuns(state);
      expect(runs.rc).toBe(4);
      const none = kernelLeapRuns(mkdtempSync(join(tmpdir(), 'kl-role-state-')));
      expect(none.rc).toBe(0);
      const [underWay, refused, gone] = filters(
        ['upgraded', entry, { unreachable: true, msg: 'timed out' }, runs, dir, true],
        ['upgraded', entry, { rc: 3, stdout: '', stderr: 'verdict: no-go' }, none, dir, true],
        ['upgraded', entry, { unreachable: true, msg: 'timed out' }, skipped, dir, false],
      );
      expect(underWay).toMatchObject({
        outcome: 'in progress',
        ansibleConnection: 'lost (reconnected)',
        reasons: ['a run had not settled when kernel_leap_outcome_timeout ran out'],
      });
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
        oldKernel: OLD_KERNEL,
        newKernel: NEW_KERNEL,
        downtimeMs: 35_000,
        sessions: { carried: 2, remapped: ['pts/0 -> pts/10'], lost: [] },
        runId: 'R2',
      };
      const c = {
        host: 'c',
        stage: 'plan',
        outcome: 'no-go',
        kernelBefore: OLD_KERNEL,
        reasons: ['sshd: root@pts/0 (452): UNSUPPORTED_FD: AF_ALG'],
      };
      const [fleet] = filters([
        'fleet',
        [a, { host: 'b', verdict: 'go', outcome: 'pending' }, c, {}],
        ['a', 'b', 'c', 'd'],
        NEW_KERNEL,
        { serial: 1 },
      ]);
      expect(fleet.summary).toEqual({ restored: 1, 'not-reached': 1, 'no-go': 1, error: 1 });
      expect(Object.keys(fleet.hosts)).toEqual(['a', 'b', 'c', 'd']);
      const lines = (filters(['table', fleet])[0] as string).split('\n');
      expect(lines[0]).toMatch(
        /^host +outcome +kernel +downtime +carried\/remapped\/lost +run \(or why\)$/,
      );
      expect(lines[2]).toMatch(
        new RegExp(`^a +restored +${OLD_KERNEL} -> ${NEW_KERNEL} +35\\.0 s +2/1/0 +R2$`),
      );
      expect(lines[4]).toContain('UNSUPPORTED_FD: AF_ALG');
    });
  });
});
