import { describe, expect, it } from 'vitest';

import { parseDowntimeOptions } from '../../../scripts/bench-options.js';

describe('bench downtime options', () => {
  it('defaults to three rounds of the floor and the leap, one idle session, results in docs/bench', () => {
    expect(parseDowntimeOptions([])).toEqual({
      rounds: 3,
      kinds: ['floor', 'leap'],
      sessions: 1,
      memMib: 0,
      outDir: 'docs/bench',
    });
  });

  it('reads every option', () => {
    expect(
      parseDowntimeOptions([
        '--rounds',
        '4',
        '--kinds',
        'floor-i,leap',
        '--sessions',
        '7',
        '--mem',
        '64',
        '--out',
        '/tmp/b',
      ]),
    ).toEqual({ rounds: 4, kinds: ['floor-i', 'leap'], sessions: 7, memMib: 64, outDir: '/tmp/b' });
    expect(parseDowntimeOptions(['--mem=512'])).toMatchObject({ sessions: 1, memMib: 512 });
  });

  it('takes --leaps alone: one idle session in a row', () => {
    expect(parseDowntimeOptions(['--leaps', '5'])).toMatchObject({ leaps: 5, sessions: 1 });
    expect(() => parseDowntimeOptions(['--leaps', '2', '--sessions', '3'])).toThrow(
      /--leaps .* takes no --sessions/,
    );
    expect(() => parseDowntimeOptions(['--leaps', '2', '--mem', '8', '--rounds', '2'])).toThrow(
      'it takes no --rounds, --mem',
    );
  });

  it.each([
    [['--rounds', '0'], /--rounds takes a whole number of at least 1, not "0"/],
    [['--sessions', '2.5'], /--sessions takes a whole number/],
    [['--mem', '-1'], /--mem/],
    [['--mem', 'lots'], /--mem takes a whole number of at least 0, not "lots"/],
    [['--kinds', 'floor,reboot'], /--kinds takes floor, floor-i, leap; not reboot/],
    [['--kinds', ''], /--kinds takes/],
    [['--session', '2'], /Unknown option '--session'[\s\S]*usage: npm run bench -- downtime/],
    [['downtime'], /Unexpected argument 'downtime'[\s\S]*usage/],
    [['--sessions', '13'], /--sessions takes at most 12, not 13/],
  ])('refuses %j before a guest boots', (args, message) => {
    expect(() => parseDowntimeOptions(args)).toThrow(message);
  });

  it('refuses more held memory than the guest fits, naming the product', () => {
    expect(parseDowntimeOptions(['--sessions', '2', '--mem', '512'])).toMatchObject({
      memMib: 512,
    });
    expect(() => parseDowntimeOptions(['--sessions', '7', '--mem', '512'])).toThrow(
      '--sessions 7 × --mem 512 holds 3584 MiB: at most 1024 MiB fit the guest',
    );
  });
});
