/**
 * A maintenance window: days of the week and a time of day range, in the
 * machine's local time (as systemd timers read theirs). `Sat 02:00-04:00`,
 * `Mon-Fri 01:30-03:00`, `Sat,Sun 23:00-01:00` (to 01:00 the next morning),
 * `* 03:00-04:00` (every day). The range starts inside it and ends outside it.
 */
export interface Window {
  /** 0 = Sunday, as Date#getDay counts; the days the window opens on. */
  days: readonly number[];
  /** Minutes after midnight. */
  start: number;
  end: number;
  /** The text it was read from, to quote back. */
  text: string;
}

const DAY_NAMES = [
  'sunday',
  'monday',
  'tuesday',
  'wednesday',
  'thursday',
  'friday',
  'saturday',
] as const;
const EVERY_DAY = [0, 1, 2, 3, 4, 5, 6];

export type WindowParse = { ok: true; window: Window } | { ok: false; problem: string };

const SYNTAX = 'write DAYS HH:MM-HH:MM, e.g. Sat 02:00-04:00, Mon-Fri 01:30-03:00 or * 03:00-04:00';

export function parseWindow(text: string): WindowParse {
  const match = /^\s*(\S+)\s+(\d{1,2}:\d{2})-(\d{1,2}:\d{2})\s*$/.exec(text);
  if (!match) return { ok: false, problem: SYNTAX };
  const [, daysText, startText, endText] = match as unknown as [string, string, string, string];
  const days = parseDays(daysText);
  if (typeof days === 'string') return { ok: false, problem: days };
  const start = minutesOf(startText);
  const end = minutesOf(endText);
  if (start === undefined || end === undefined)
    return { ok: false, problem: `times run from 00:00 to 23:59 (${SYNTAX})` };
  if (start === end)
    return { ok: false, problem: 'the window starts and ends at the same time: it would be empty' };
  return { ok: true, window: { days, start, end, text: text.trim() } };
}

/** `*`, or days and day ranges by comma: Mon, Sat-Sun, Fri-Mon (across the week's end). */
function parseDays(text: string): number[] | string {
  if (text === '*') return EVERY_DAY;
  const days = new Set<number>();
  for (const part of text.toLowerCase().split(',')) {
    const [from, to = from] = part.split('-').map(dayIndex);
    if (from === undefined || to === undefined || part.split('-').length > 2)
      return `${JSON.stringify(part)} is not a day or a day range: use Mon Tue Wed Thu Fri Sat Sun, e.g. Mon-Fri or Sat,Sun`;
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === to) break;
    }
  }
  return [...days].sort((a, b) => a - b);
}

/** A day's name, or its first three letters or more. */
function dayIndex(name: string): number | undefined {
  const i = DAY_NAMES.findIndex((day) => name.length >= 3 && day.startsWith(name));
  return i === -1 ? undefined : i;
}

function minutesOf(hhmm: string): number | undefined {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h > 23 || m > 59 ? undefined : h * 60 + m;
}

/** Whether `now` (local time) is inside the window; a range past midnight belongs to the day it starts on. */
export function inWindow(window: Window, now: Date): boolean {
  const minute = now.getHours() * 60 + now.getMinutes();
  const today = now.getDay();
  if (window.start < window.end)
    return window.days.includes(today) && minute >= window.start && minute < window.end;
  const yesterday = (today + 6) % 7;
  return (
    (window.days.includes(today) && minute >= window.start) ||
    (window.days.includes(yesterday) && minute < window.end)
  );
}

/** When the window that holds `now` opened (local time); undefined outside every window. */
export function windowOpenedAt(window: Window, now: Date): Date | undefined {
  if (!inWindow(window, now)) return undefined;
  const opened = new Date(now);
  opened.setHours(Math.floor(window.start / 60), window.start % 60, 0, 0);
  // Past midnight, in a window that opened the evening before.
  if (opened > now) opened.setDate(opened.getDate() - 1);
  return opened;
}
