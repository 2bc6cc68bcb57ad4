import { describe, expect, it } from 'vitest';

import { inWindow, parseWindow, type Window, windowOpenedAt } from '../../../src/config/window.js';

function window(text: string): Window {
  const parsed = parseWindow(text);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.window;
}

/** Saturday 5 December 2026 at hh:mm, local time (the window's time). */
const sat = (hh: number, mm = 0) => new Date(2026, 11, 5, hh, mm);
const sun = (hh: number, mm = 0) => new Date(2026, 11, 6, hh, mm);
const mon = (hh: number, mm = 0) => new Date(2026, 11, 7, hh, mm);

describe('[auto] window', () => {
  it.each([
    ['Sat 02:00-04:00', [6], 120, 240],
    ['Mon-Fri 1:30-03:00', [1, 2, 3, 4, 5], 90, 180],
    ['sat,SUN 23:00-01:00', [0, 6], 1380, 60],
    ['Fri-Mon 00:00-23:59', [0, 1, 5, 6], 0, 1439],
    ['* 03:00-04:00', [0, 1, 2, 3, 4, 5, 6], 180, 240],
    ['saturday 02:00-04:00', [6], 120, 240],
  ])('reads %s', (text, days, start, end) => {
    expect(window(text)).toEqual({ days, start, end, text });
  });

  it.each([
    ['Sat', 'write DAYS HH:MM-HH:MM'],
    ['02:00-04:00', 'write DAYS HH:MM-HH:MM'],
    ['Sat 02:00 04:00', 'write DAYS HH:MM-HH:MM'],
    ['Sa 02:00-04:00', '"sa" is not a day'],
    ['Satx 02:00-04:00', '"satx" is not a day'],
    ['Mon-Tue-Wed 02:00-04:00', 'is not a day or a day range'],
    ['Sat 24:00-04:00', 'times run from 00:00 to 23:59'],
    ['Sat 02:60-04:00', 'times run from 00:00 to 23:59'],
    ['Sat 02:00-02:00', 'it would be empty'],
  ])('refuses %s, saying what to write', (text, problem) => {
    const parsed = parseWindow(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toContain(problem);
  });

  it('holds its start and not its end', () => {
    const w = window('Sat 02:00-04:00');
    expect([sat(1, 59), sat(2), sat(3, 59), sat(4), sun(2, 30)].map((d) => inWindow(w, d))).toEqual(
      [false, true, true, false, false],
    );
  });

  it('past midnight, belongs to the day it opens on', () => {
    const w = window('Sat 23:00-01:00');
    expect(
      [sat(22, 59), sat(23), sun(0, 30), sun(1), sun(23, 30), sat(0, 30)].map((d) =>
        inWindow(w, d),
      ),
    ).toEqual([false, true, true, false, false, false]);
  });

  it('says when the window that holds now opened, the evening before past midnight', () => {
    expect(windowOpenedAt(window('Sat 02:00-04:00'), sat(3, 10))).toEqual(sat(2));
    expect(windowOpenedAt(window('Sat 23:00-01:00'), sun(0, 30))).toEqual(sat(23));
    expect(windowOpenedAt(window('* 23:00-01:00'), mon(0, 5))).toEqual(sun(23));
    expect(windowOpenedAt(window('Sat 02:00-04:00'), sat(5))).toBeUndefined();
  });
});
