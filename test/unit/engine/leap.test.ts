import { describe, expect, it } from 'vitest';

import { inDumpOrder, leapOf, mapLeap } from '../../../src/engine/leap.js';

describe('a leap', () => {
  it("takes the caller's session from the end of the dump order, and gives that order back", () => {
    const leap = leapOf(['other-1', 'other-2', 'caller']);
    expect(leap).toEqual({ caller: 'caller', others: ['other-1', 'other-2'] });
    expect(inDumpOrder(mapLeap(leap, (s) => s.toUpperCase()))).toEqual([
      'OTHER-1',
      'OTHER-2',
      'CALLER',
    ]);
  });

  it('needs a session', () => {
    expect(() => leapOf([])).toThrowError(expect.objectContaining({ code: 'NO_SESSION' }));
  });
});
