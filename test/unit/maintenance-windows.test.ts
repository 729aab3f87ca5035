import { instantOf, nextDeployOpening, offsetAt, overlappingWindows, parseWindow, type MaintenanceWindow } from '../../src/shared/maintenance/windows';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const opening = (windows: string[], from: string, freezes: { from: string; until: string; reason: string }[] = []) => {
  const o = nextDeployOpening(windows, freezes, at(from));
  return { at: iso(o.at), closesAt: iso(o.closesAt), waitingFor: o.waitingFor };
};
const parsed = (text: string) => parseWindow(text) as MaintenanceWindow;

describe('parseWindow', () => {
  it.each([
    ['Sun 02:00-04:00 Europe/Berlin', { days: [0], start: 120, end: 240, zone: 'Europe/Berlin' }],
    ['Mon-Fri 22:00-02:00 UTC', { days: [1, 2, 3, 4, 5], start: 1320, end: 120, zone: 'UTC' }],
    ['Fri-Mon 00:00-24:00 UTC', { days: [0, 1, 5, 6], start: 0, end: 0 }],
    ['sat,sun 9:30-10:00 America/New_York', { days: [0, 6], start: 570, end: 600 }],
    ['daily 01:00-03:00 Asia/Tokyo', { days: [0, 1, 2, 3, 4, 5, 6] }],
  ])('reads %j', (text, expected) => {
    expect(parseWindow(text)).toMatchObject({ ...expected, text });
  });

  it.each([
    ['Sonntag 02:00-04:00 UTC', '"Sonntag" is not a day'],
    ['Sun 25:00-04:00 UTC', '"25:00" is not a time of day'],
    ['Sun 02:60-04:00 UTC', '"02:60" is not a time of day'],
    ['Sun 02:00-02:00 UTC', 'the window 02:00-02:00 is empty'],
    ['Sun 02:00-04:00 Mars/Olympus', 'unknown time zone "Mars/Olympus"'],
    ['Sun 02:00-04:00', 'expected "<days> HH:MM-HH:MM <IANA zone>"'],
    ['02:00-04:00 Europe/Berlin', 'expected "<days> HH:MM-HH:MM <IANA zone>"'],
  ])('refuses %j, saying why', (text, problem) => {
    expect(parseWindow(text)).toContain(problem);
  });

  it('finds windows of one zone that overlap, also across midnight and the week’s end', () => {
    expect(overlappingWindows([parsed('Sat 23:00-01:00 UTC'), parsed('Sun 00:30-02:00 UTC')])).toEqual([[0, 1]]);
    expect(overlappingWindows([parsed('Sat 22:00-23:00 UTC'), parsed('Sun 00:30-02:00 UTC')])).toEqual([]);
    expect(overlappingWindows([parsed('Sat 23:00-00:30 UTC'), parsed('Sat 00:00-01:00 UTC')])).toEqual([]);
    expect(overlappingWindows([parsed('Sat 23:00-00:30 UTC'), parsed('Sun 00:00-01:00 UTC')])).toEqual([[0, 1]]);
    expect(overlappingWindows([parsed('Mon-Fri 09:00-17:00 UTC'), parsed('Wed 16:00-18:00 UTC')])).toEqual([[0, 1]]);
    // Other zones drift against each other with DST: not compared.
    expect(overlappingWindows([parsed('Sun 02:00-04:00 Europe/Berlin'), parsed('Sun 01:00-03:00 UTC')])).toEqual([]);
  });
});

describe('time zones across DST changes (Europe/Berlin)', () => {
  it('knows the offsets either side of the changes', () => {
    expect(offsetAt(at('2026-03-29T00:59:00Z'), 'Europe/Berlin')).toBe(3_600_000);
    expect(offsetAt(at('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe(7_200_000);
    expect(offsetAt(at('2026-10-25T00:59:00Z'), 'Europe/Berlin')).toBe(7_200_000);
    expect(offsetAt(at('2026-10-25T01:00:00Z'), 'Europe/Berlin')).toBe(3_600_000);
  });

  it('moves a wall time the clocks skip on by the gap, and takes the first of one that happens twice', () => {
    // 29 March 2026, 02:00 and 02:30 never happen in Berlin: the clocks go from 02:00 CET to 03:00 CEST.
    expect(iso(instantOf(2026, 3, 29, 120, 'Europe/Berlin'))).toBe('2026-03-29T01:00:00.000Z');
    expect(iso(instantOf(2026, 3, 29, 150, 'Europe/Berlin'))).toBe('2026-03-29T01:30:00.000Z');
    // 25 October 2026, 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
    expect(iso(instantOf(2026, 10, 25, 150, 'Europe/Berlin'))).toBe('2026-10-25T00:30:00.000Z');
    expect(iso(instantOf(2026, 10, 25, 240, 'Europe/Berlin'))).toBe('2026-10-25T03:00:00.000Z');
  });

  it('Sun 02:00-04:00: the window before, on and after the spring change', () => {
    expect(opening(['Sun 02:00-04:00 Europe/Berlin'], '2026-03-20T12:00:00Z')).toEqual({ at: '2026-03-22T01:00:00.000Z', closesAt: '2026-03-22T03:00:00.000Z', waitingFor: 'window Sun 02:00-04:00 Europe/Berlin' });
    // The day summer time starts: the hour 02:00-03:00 does not exist, the window is 03:00-04:00 CEST.
    expect(opening(['Sun 02:00-04:00 Europe/Berlin'], '2026-03-27T12:00:00Z')).toMatchObject({ at: '2026-03-29T01:00:00.000Z', closesAt: '2026-03-29T02:00:00.000Z' });
    expect(opening(['Sun 02:00-04:00 Europe/Berlin'], '2026-04-01T12:00:00Z')).toMatchObject({ at: '2026-04-05T00:00:00.000Z', closesAt: '2026-04-05T02:00:00.000Z' });
  });

  it('Sun 02:00-04:00: the autumn change makes the window three hours long', () => {
    expect(opening(['Sun 02:00-04:00 Europe/Berlin'], '2026-10-23T12:00:00Z')).toMatchObject({ at: '2026-10-25T00:00:00.000Z', closesAt: '2026-10-25T03:00:00.000Z' });
    // Inside the repeated hour (01:30Z is 02:30 CET): open now, nothing to wait for.
    expect(opening(['Sun 02:00-04:00 Europe/Berlin'], '2026-10-25T01:30:00Z')).toEqual({ at: '2026-10-25T01:30:00.000Z', closesAt: '2026-10-25T03:00:00.000Z', waitingFor: undefined });
  });
});

describe('nextDeployOpening', () => {
  it('inside a window: now, with when it closes', () => {
    expect(opening(['Mon-Fri 09:00-17:00 UTC'], '2026-12-02T10:00:00Z')).toEqual({ at: '2026-12-02T10:00:00.000Z', closesAt: '2026-12-02T17:00:00.000Z', waitingFor: undefined });
  });

  it('a window that closes is left at its end: the next one opens', () => {
    expect(opening(['Mon-Fri 09:00-17:00 UTC'], '2026-12-02T17:00:00Z')).toMatchObject({ at: '2026-12-03T09:00:00.000Z' });
    expect(opening(['Mon-Fri 09:00-17:00 UTC'], '2026-12-04T17:30:00Z')).toMatchObject({ at: '2026-12-07T09:00:00.000Z' });
  });

  it('Sat 23:00-01:00 crosses midnight: open on Sunday at 00:30, closed on Sunday at 01:00', () => {
    // 5 December 2026 is a Saturday.
    expect(opening(['Sat 23:00-01:00 UTC'], '2026-12-05T12:00:00Z')).toMatchObject({ at: '2026-12-05T23:00:00.000Z', closesAt: '2026-12-06T01:00:00.000Z' });
    expect(opening(['Sat 23:00-01:00 UTC'], '2026-12-06T00:30:00Z')).toMatchObject({ at: '2026-12-06T00:30:00.000Z', closesAt: '2026-12-06T01:00:00.000Z', waitingFor: undefined });
    expect(opening(['Sat 23:00-01:00 UTC'], '2026-12-06T01:00:00Z')).toMatchObject({ at: '2026-12-12T23:00:00.000Z' });
  });

  it('the earliest of several windows, each in its own zone', () => {
    // Wednesday 2 December 2026 10:00Z: 02:00 in Los Angeles on Thursday is 10:00Z Thursday; 20:00 in Tokyo is 11:00Z today.
    expect(opening(['Thu 02:00-03:00 America/Los_Angeles', 'Wed 20:00-21:00 Asia/Tokyo'], '2026-12-02T09:00:00Z')).toMatchObject({
      at: '2026-12-02T11:00:00.000Z',
      waitingFor: 'window Wed 20:00-21:00 Asia/Tokyo',
    });
  });

  it('a freeze holds a tenant without windows until it ends', () => {
    const freeze = { from: '2026-12-20T00:00:00Z', until: '2027-01-04T08:00:00+01:00', reason: 'year-end freeze' };
    expect(opening([], '2026-12-24T12:00:00Z', [freeze])).toEqual({ at: '2027-01-04T07:00:00.000Z', closesAt: undefined, waitingFor: 'the freeze until 2027-01-04T07:00:00.000Z (year-end freeze)' });
    expect(opening([], '2026-12-19T23:59:00Z', [freeze])).toMatchObject({ at: '2026-12-19T23:59:00.000Z', waitingFor: undefined });
  });

  it('after a freeze, the first window outside it; a freeze that ends inside a window opens it then', () => {
    const freeze = { from: '2026-12-05T00:00:00Z', until: '2026-12-07T10:00:00Z', reason: 'sale' };
    expect(opening(['Mon-Fri 09:00-17:00 UTC'], '2026-12-04T18:00:00Z', [freeze])).toMatchObject({ at: '2026-12-07T10:00:00.000Z', closesAt: '2026-12-07T17:00:00.000Z', waitingFor: expect.stringContaining('sale') as unknown });
    const late = { from: '2026-12-05T00:00:00Z', until: '2026-12-07T18:00:00Z', reason: 'sale' };
    expect(opening(['Mon-Fri 09:00-17:00 UTC'], '2026-12-04T18:00:00Z', [late])).toMatchObject({ at: '2026-12-08T09:00:00.000Z', waitingFor: 'window Mon-Fri 09:00-17:00 UTC' });
  });

  it('refuses a window that does not parse, naming it', () => {
    expect(() => nextDeployOpening(['Sun 02:00-04:00 Nowhere/City'], [], 0)).toThrow(/"Sun 02:00-04:00 Nowhere\/City": unknown time zone/);
  });
});
