/**
 * Maintenance windows (`Sun 02:00-04:00 Europe/Berlin`) and freezes, and the one question a
 * release asks of them: from this instant on, when may a tenant's deploy start? Pure: the zone's
 * offsets come from Intl (the ICU data of the Node that runs it). The release asks it in a local
 * activity (src/activities/fleet.ts), so the answer is recorded in history and a replay on a Node
 * with other time zone data still follows it (docs/decisions.md, "Maintenance windows").
 */

export const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

export interface MaintenanceWindow {
  /** Weekdays the window opens on, 0 = Sunday, in the window's zone. */
  days: number[];
  /** Minutes after local midnight; `end <= start` means the window closes the next day. */
  start: number;
  end: number;
  zone: string;
  /** As written in the config. */
  text: string;
}

export interface Freeze {
  /** ISO 8601 instants. */
  from: string;
  until: string;
  reason: string;
}

export interface DeployOpening {
  /** Epoch ms: the first instant at or after the one asked about when a deploy may start. */
  at: number;
  /** What it waits for, for people: the window that opens, the freeze that ends; absent when it need not wait. */
  waitingFor?: string;
  /** When the window it starts in closes (epoch ms); absent without windows. */
  closesAt?: number;
}

const WINDOW_FORMAT = /^(\S+)\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})\s+(\S+)$/;
export const WINDOW_EXAMPLE = 'expected "<days> HH:MM-HH:MM <IANA zone>", e.g. "Sun 02:00-04:00 Europe/Berlin", "Mon-Fri 22:00-02:00 UTC" or "daily 01:00-03:00 America/New_York"';

/** Parses one window; a string is the problem, said for people. */
export function parseWindow(text: string): MaintenanceWindow | string {
  const match = WINDOW_FORMAT.exec(text.trim());
  if (!match) return WINDOW_EXAMPLE;
  const [, dayText, sh, sm, eh, em, zone] = match as unknown as [string, string, string, string, string, string, string];
  const days = parseDays(dayText);
  if (typeof days === 'string') return days;
  const start = minutesOf(sh, sm);
  const end = minutesOf(eh, em, true);
  if (start === undefined) return `"${sh}:${sm}" is not a time of day; expected 00:00 to 23:59`;
  if (end === undefined) return `"${eh}:${em}" is not a time of day; expected 00:00 to 24:00`;
  if (start === end) return `the window ${sh}:${sm}-${eh}:${em} is empty; an end before the start closes it the next day (e.g. 23:00-01:00)`;
  if (!knownZone(zone)) return `unknown time zone "${zone}"; expected an IANA zone such as Europe/Berlin or UTC`;
  return { days, start, end: end === 1440 ? 0 : end, zone, text: text.trim() };
}

function parseDays(text: string): number[] | string {
  if (text.toLowerCase() === 'daily') return [0, 1, 2, 3, 4, 5, 6];
  const dayOf = (name: string) => WEEKDAYS.findIndex((d) => d.toLowerCase() === name.toLowerCase());
  const days = new Set<number>();
  for (const part of text.split(',')) {
    const [from, to, ...rest] = part.split('-');
    const a = dayOf(from ?? '');
    const b = to === undefined ? a : dayOf(to);
    if (rest.length > 0 || a < 0 || b < 0) return `"${part}" is not a day; expected ${WEEKDAYS.join(', ')}, a range such as Mon-Fri, a list such as Sat,Sun, or daily`;
    // Fri-Mon wraps over the weekend.
    for (let d = a; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === b) break;
    }
  }
  return [...days].sort();
}

function minutesOf(h: string, m: string, endOfDay = false): number | undefined {
  const hours = Number(h);
  const minutes = Number(m);
  if (minutes > 59) return undefined;
  if (hours === 24 && minutes === 0 && endOfDay) return 1440;
  if (hours > 23) return undefined;
  return hours * 60 + minutes;
}

function knownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Windows of one list that overlap, as `[i, j]` index pairs; only windows in the same zone are compared (others drift against each other with DST). */
export function overlappingWindows(windows: MaintenanceWindow[]): [number, number][] {
  const WEEK = 7 * 1440;
  const spans = windows.map((w) => w.days.map((d) => [d * 1440 + w.start, d * 1440 + w.start + lengthOf(w)] as const));
  const overlaps: [number, number][] = [];
  for (let i = 0; i < windows.length; i++) {
    for (let j = i + 1; j < windows.length; j++) {
      if (windows[i]!.zone !== windows[j]!.zone) continue;
      const hit = spans[i]!.some(([a, b]) => spans[j]!.some(([c, d]) => [-WEEK, 0, WEEK].some((shift) => a < d + shift && c + shift < b)));
      if (hit) overlaps.push([i, j]);
    }
  }
  return overlaps;
}

const lengthOf = (w: MaintenanceWindow) => (w.end > w.start ? w.end - w.start : w.end + 1440 - w.start);

// --- time zones --------------------------------------------------------------------------------

const formatters = new Map<string, Intl.DateTimeFormat>();

function wallClockOf(instant: number, zone: string): { year: number; month: number; day: number; hour: number; minute: number; second: number } {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formatters.set(zone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(new Date(instant))) if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour!, minute: parts.minute!, second: parts.second! };
}

/** The zone's offset from UTC at an instant, in ms (Berlin in summer: +7,200,000). */
export function offsetAt(instant: number, zone: string): number {
  const w = wallClockOf(instant, zone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(instant / 1000) * 1000;
}

/**
 * The instant a wall-clock time happens in a zone. A time that happens twice (the hour the
 * clocks go back) is its first occurrence; one that never happens (the hour they skip) moves on
 * by the gap, as a clock that was not changed would show it: 02:30 in Berlin on the day summer
 * time starts is 03:30 CEST.
 */
export function instantOf(year: number, month: number, day: number, minutes: number, zone: string): number {
  const wall = Date.UTC(year, month - 1, day, 0, minutes);
  const before = offsetAt(wall - 86_400_000, zone);
  const after = offsetAt(wall + 86_400_000, zone);
  const valid = [...new Set([before, after])].map((offset) => wall - offset).filter((instant) => offsetAt(instant, zone) === wall - instant);
  return valid.length > 0 ? Math.min(...valid) : wall - before;
}

// --- the next opening --------------------------------------------------------------------------

/** The window's occurrences that may hold `instant` or open after it, within about eight days. */
function occurrences(window: MaintenanceWindow, instant: number): { open: number; close: number }[] {
  const today = wallClockOf(instant, window.zone);
  const found: { open: number; close: number }[] = [];
  for (let k = -1; k <= 8; k++) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + k));
    if (!window.days.includes(date.getUTCDay())) continue;
    const [y, m, d] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
    const open = instantOf(y, m, d, window.start, window.zone);
    const close = instantOf(y, m, d + (window.end > window.start ? 0 : 1), window.end, window.zone);
    if (close > open) found.push({ open, close });
  }
  return found;
}

/**
 * The first instant at or after `from` when a tenant's deploy may start: inside one of its
 * windows (any time, without windows) and outside every freeze. A freeze that ends inside a
 * window lets the deploy start at the freeze's end.
 */
export function nextDeployOpening(windowTexts: readonly string[], freezes: readonly Freeze[], from: number): DeployOpening {
  const windows = windowTexts.map((text) => {
    const parsed = parseWindow(text);
    if (typeof parsed === 'string') throw new RangeError(`maintenance window ${JSON.stringify(text)}: ${parsed}`);
    return parsed;
  });
  const frozen = freezes.map((f) => ({ from: Date.parse(f.from), until: Date.parse(f.until), reason: f.reason }));
  let at = from;
  let waitingFor: string | undefined;
  // Each round moves past one freeze or to one window's opening; a year of weekly windows and freezes fits well within it.
  for (let round = 0; round < 2_000; round++) {
    const freeze = frozen.find((f) => f.from <= at && at < f.until);
    if (freeze) {
      at = freeze.until;
      waitingFor = `the freeze until ${new Date(freeze.until).toISOString()} (${freeze.reason})`;
      continue;
    }
    if (windows.length === 0) return { at, ...(at > from ? { waitingFor } : {}) };
    let next: { open: number; close: number; window: MaintenanceWindow } | undefined;
    for (const window of windows) {
      for (const o of occurrences(window, at)) {
        if (o.open <= at && at < o.close) return { at, closesAt: o.close, ...(at > from ? { waitingFor: waitingFor ?? `window ${window.text}` } : {}) };
        if (o.open > at && (!next || o.open < next.open)) next = { ...o, window };
      }
    }
    if (!next) break;
    at = next.open;
    waitingFor = `window ${next.window.text}`;
  }
  throw new RangeError(`no deploy opening found after ${new Date(from).toISOString()}: the windows (${windowTexts.join('; ')}) never open outside the freezes`);
}
