// reconcile --date: the day window in a time zone and the durations it accepts.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../../src/core/errors.js';
import { dayWindow, parseDuration } from '../../../../src/core/reconcile/day.js';
import { at } from '../../../helpers/reconcile.js';

const isoOf = (ms: number) => new Date(ms).toISOString();

const HOUR = 3_600_000;

describe('dayWindow', () => {
  const cases: { name: string; date: string; tz: string; start: string; end: string; hours: number }[] = [
    {
      name: 'a UTC day has 24 hours from midnight to midnight',
      date: '2026-11-21',
      tz: 'UTC',
      start: '2026-11-21T00:00:00.000Z',
      end: '2026-11-22T00:00:00.000Z',
      hours: 24,
    },
    {
      name: 'a Berlin winter day starts at 23:00Z the evening before',
      date: '2026-11-21',
      tz: 'Europe/Berlin',
      start: '2026-11-20T23:00:00.000Z',
      end: '2026-11-21T23:00:00.000Z',
      hours: 24,
    },
    {
      name: 'Berlin loses an hour on 2026-03-29',
      date: '2026-03-29',
      tz: 'Europe/Berlin',
      start: '2026-03-28T23:00:00.000Z',
      end: '2026-03-29T22:00:00.000Z',
      hours: 23,
    },
    {
      name: 'Berlin gains an hour on 2026-10-25',
      date: '2026-10-25',
      tz: 'Europe/Berlin',
      start: '2026-10-24T22:00:00.000Z',
      end: '2026-10-25T23:00:00.000Z',
      hours: 25,
    },
    {
      name: 'New York loses an hour on 2026-03-08',
      date: '2026-03-08',
      tz: 'America/New_York',
      start: '2026-03-08T05:00:00.000Z',
      end: '2026-03-09T04:00:00.000Z',
      hours: 23,
    },
    {
      name: 'New York gains an hour on 2026-11-01',
      date: '2026-11-01',
      tz: 'America/New_York',
      start: '2026-11-01T04:00:00.000Z',
      end: '2026-11-02T05:00:00.000Z',
      hours: 25,
    },
    {
      name: 'New York on an ordinary summer day is 4 hours behind UTC',
      date: '2026-07-04',
      tz: 'America/New_York',
      start: '2026-07-04T04:00:00.000Z',
      end: '2026-07-05T04:00:00.000Z',
      hours: 24,
    },
    {
      name: 'Havana skips midnight on 2023-03-12, so the day starts at the first instant that exists',
      date: '2023-03-12',
      tz: 'America/Havana',
      start: '2023-03-12T05:00:00.000Z',
      end: '2023-03-13T04:00:00.000Z',
      hours: 23,
    },
    {
      name: 'Havana repeats midnight on 2023-11-05, and the day starts at its first occurrence',
      date: '2023-11-05',
      tz: 'America/Havana',
      start: '2023-11-05T04:00:00.000Z',
      end: '2023-11-06T05:00:00.000Z',
      hours: 25,
    },
    {
      name: 'Beirut skipped midnight on 2022-03-27',
      date: '2022-03-27',
      tz: 'Asia/Beirut',
      start: '2022-03-26T22:00:00.000Z',
      end: '2022-03-27T21:00:00.000Z',
      hours: 23,
    },
    {
      name: 'Samoa skipped 2011-12-30 altogether, an empty day',
      date: '2011-12-30',
      tz: 'Pacific/Apia',
      start: '2011-12-30T10:00:00.000Z',
      end: '2011-12-30T10:00:00.000Z',
      hours: 0,
    },
    {
      name: 'Lord Howe Island moves its clocks by half an hour',
      date: '2026-10-04',
      tz: 'Australia/Lord_Howe',
      start: '2026-10-03T13:30:00.000Z',
      end: '2026-10-04T13:00:00.000Z',
      hours: 23.5,
    },
    {
      name: 'a leap day exists in a leap year',
      date: '2028-02-29',
      tz: 'UTC',
      start: '2028-02-29T00:00:00.000Z',
      end: '2028-03-01T00:00:00.000Z',
      hours: 24,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const w = dayWindow(c.date, c.tz);
      expect({ start: isoOf(w.startMs), end: isoOf(w.endMs), hours: w.hours }).toEqual({
        start: c.start,
        end: c.end,
        hours: c.hours,
      });
      expect(w.date).toBe(c.date);
    });
  }

  it('puts 23:30 Berlin time (22:30Z) inside 2026-11-21 and outside 2026-11-22', () => {
    const t = at('2026-11-21T22:30:00Z');
    const day = dayWindow('2026-11-21', 'Europe/Berlin');
    const next = dayWindow('2026-11-22', 'Europe/Berlin');
    expect(t >= day.startMs && t < day.endMs).toBe(true);
    expect(t >= next.startMs && t < next.endMs).toBe(false);
    expect(next.startMs).toBe(day.endMs);
  });

  it('spells the zone canonically, so utc and UTC give the same report', () => {
    expect(dayWindow('2026-11-21', 'utc').tz).toBe('UTC');
  });

  const badDates = [
    '2026-13-01',
    '2026-02-30',
    '2026-02-29',
    '2026-00-10',
    '2026-04-31',
    '2026-1-01',
    '26-01-01',
    '2026/01/01',
    '2026-01-01T00:00',
    '',
    '0000-01-01',
  ];
  for (const date of badDates) {
    it(`refuses --date ${JSON.stringify(date)} and says what a date looks like`, () => {
      const run = () => dayWindow(date, 'UTC');
      expect(run).toThrow(UsageError);
      expect(run).toThrow(`--date: expected a calendar date YYYY-MM-DD, got ${JSON.stringify(date)}`);
    });
  }

  const badZones = ['Mars/Base', 'Europe/Berln', '', ' '];
  for (const tz of badZones) {
    it(`refuses --tz ${JSON.stringify(tz)} and names an accepted zone`, () => {
      const run = () => dayWindow('2026-11-21', tz);
      expect(run).toThrow(UsageError);
      expect(run).toThrow(`--tz: expected an IANA time zone such as UTC or Europe/Berlin, got ${JSON.stringify(tz)}`);
    });
  }
});

describe('parseDuration', () => {
  const good: [string, number][] = [
    ['0', 0],
    ['90s', 90_000],
    ['15m', 15 * 60_000],
    ['2h', 2 * HOUR],
    ['1d', 24 * HOUR],
    ['1h30m', 90 * 60_000],
    ['1d2h3m4s', 24 * HOUR + 2 * HOUR + 3 * 60_000 + 4_000],
    ['0m', 0],
  ];
  for (const [text, ms] of good) {
    it(`reads ${text} as ${ms} ms`, () => expect(parseDuration(text, '--grace')).toBe(ms));
  }
  const bad = ['', '10', '1.5h', '-1h', '30m1h', '5ms', ' 1h', '1h ', 'h', '1w', '99999999999999999d'];
  for (const text of bad) {
    it(`refuses ${JSON.stringify(text)}, naming the option and the accepted forms`, () => {
      const run = () => parseDuration(text, '--grace');
      expect(run).toThrow(UsageError);
      expect(run).toThrow(
        `--grace: expected a duration such as 0, 90s, 15m, 2h, 1d or 1h30m, got ${JSON.stringify(text)}`,
      );
    });
  }
});
