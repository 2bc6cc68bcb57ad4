import { describe, expect, it } from 'vitest';

import { closest, editDistance } from '../../../src/cli/suggest.js';

const COMMANDS = [
  'check',
  'plan',
  'rehearse',
  'upgrade',
  'restore',
  'status',
  'report',
  'runs',
  'prune',
];

describe('did you mean', () => {
  it('counts a swap of neighbours as one edit', () => {
    expect(editDistance('palm', 'plan')).toBe(2);
    expect(editDistance('paln', 'plan')).toBe(1);
    expect(editDistance('', 'run')).toBe(3);
  });

  it('names the nearest command for a typo, a swap or a start', () => {
    expect(closest('pln', COMMANDS)).toBe('plan');
    expect(closest('upgarde', COMMANDS)).toBe('upgrade');
    expect(closest('rehe', COMMANDS)).toBe('rehearse');
    expect(closest('--rn', ['--run', '--json', '--help'])).toBe('--run');
  });

  it('names nothing when no word is near, or a start fits several', () => {
    expect(closest('xyzzy', COMMANDS)).toBeUndefined();
    expect(closest('re', COMMANDS)).toBeUndefined();
  });
});
