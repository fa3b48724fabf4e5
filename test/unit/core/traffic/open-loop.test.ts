// The open-loop scheduler: drops instead of delaying, caps what runs at once, and times every
// arrival from when it was due. Its logic runs on a virtual clock; one test uses the real one
// and asserts only counts.
import { describe, expect, it } from 'vitest';
import { runOpenLoop, type Clock } from '../../../../src/core/traffic/open-loop.js';
import { compileProfile, shardArrivals, type Arrival, type Profile } from '../../../../src/core/traffic/stages.js';

/**
 * Discrete-event time: it stands still while there is work to do and jumps to the earliest
 * wait once the event loop is idle. `oversleepMs` makes every wait for a future time wake late,
 * like a generator on a loaded machine.
 */
class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: { at: number; seq: number; resolve: () => void }[] = [];
  oversleepMs = 0;

  constructor(readonly origin = 1_700_000_000_000) {
    this.t = origin;
  }
  now(): number {
    return this.t;
  }
  until(atMs: number, signal?: AbortSignal): Promise<void> {
    const at = atMs > this.t ? atMs + this.oversleepMs : this.t;
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.timers.push({ at, seq: this.seq++, resolve: done });
      signal?.addEventListener('abort', done, { once: true });
    });
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.push({ at: this.t + ms, seq: this.seq++, resolve }));
  }
  /** Runs `work` to completion, advancing time only when nothing else can run. */
  async drive<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    work.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (settled) return work;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift();
      if (!next) throw new Error('virtual clock: the loop is waiting on something that is not time');
      this.t = Math.max(this.t, next.at);
      next.resolve();
    }
  }
}

const arrivals = (p: Profile) => shardArrivals(compileProfile(p));
const steady = (perSec: number, ms: number): Profile => ({
  stages: [
    { durationMs: 0, target: perSec },
    { durationMs: ms, target: perSec },
  ],
});
const ms = (us: number) => us / 1000;

describe('the open-loop scheduler', () => {
  it('drops arrivals past maxInFlight as in-flight-cap drops when nothing completes', async () => {
    const clock = new VirtualClock();
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(100, 1000)),
        start: clock.now(),
        maxInFlight: 10,
        clock,
        drainTimeoutMs: 1000,
        fire: () => new Promise(() => {}),
      }),
    );
    expect(r.counts).toEqual({
      due: 100,
      started: 10,
      completed: 0,
      errors: 0,
      unfinished: 10,
      dropped: { late: 0, inFlightCap: 90 },
      peakInFlight: 10,
    });
    expect(r.latency.totalCount).toBe(0);
    expect(r.interrupted).toBe(false);
    // It gave up waiting after the drain timeout instead of hanging on the stuck arrivals.
    expect(r.endedAt - clock.origin).toBeCloseTo(2000, 6);
  });

  it('measures latency from the intended time, so a slow fire shows in the histogram', async () => {
    const clock = new VirtualClock();
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(10, 2000)),
        start: clock.now(),
        maxInFlight: 100,
        clock,
        fire: () => clock.sleep(50),
      }),
    );
    expect(r.counts.completed).toBe(20);
    expect(r.latency.totalCount).toBe(20);
    expect(ms(r.latency.minNonZeroValue)).toBeGreaterThanOrEqual(49.9);
    expect(ms(r.latency.maxValue)).toBeLessThanOrEqual(50.1);
    expect(r.latenessMs).toEqual({ p99: 0, max: 0 });
  });

  it('counts a late start into latency instead of hiding it (no coordinated omission)', async () => {
    const clock = new VirtualClock();
    clock.oversleepMs = 30;
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(1, 20_000)),
        start: clock.now(),
        maxInFlight: 100,
        clock,
        fire: () => clock.sleep(50),
      }),
    );
    expect(r.counts.started).toBe(20);
    expect(r.counts.dropped).toEqual({ late: 0, inFlightCap: 0 });
    // 30 ms waiting on the generator + 50 ms of service: 80 ms, not the 50 the fire alone took.
    expect(ms(r.latency.getValueAtPercentile(50))).toBeGreaterThanOrEqual(79.9);
    expect(ms(r.latency.getValueAtPercentile(50))).toBeLessThanOrEqual(80.1);
    expect(r.latenessMs.max).toBeGreaterThanOrEqual(29.9);
    expect(r.latenessMs.max).toBeLessThanOrEqual(30.1);
    expect(r.latenessMs.p99).toBeCloseTo(r.latenessMs.max, 1);
  });

  it('drops an arrival that cannot start within the lateness bound rather than starting it late', async () => {
    const clock = new VirtualClock();
    clock.oversleepMs = 150;
    let fired = 0;
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(1, 20_000)),
        start: clock.now(),
        maxInFlight: 100,
        clock,
        maxLatenessMs: 100,
        fire: async () => void fired++,
      }),
    );
    expect(fired).toBe(0);
    expect(r.counts).toMatchObject({ due: 20, started: 0, dropped: { late: 20, inFlightCap: 0 } });
    expect(r.lateness.totalCount).toBe(0);
  });

  it('honours a configured lateness bound', async () => {
    const clock = new VirtualClock();
    clock.oversleepMs = 150;
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(1, 5000)),
        start: clock.now(),
        maxInFlight: 100,
        clock,
        maxLatenessMs: 200,
        fire: async () => {},
      }),
    );
    expect(r.counts).toMatchObject({ started: 5, completed: 5, dropped: { late: 0, inFlightCap: 0 } });
  });

  it('never runs more than maxInFlight at once when service is slower than arrivals', async () => {
    const clock = new VirtualClock();
    let running = 0;
    let most = 0;
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(1000, 200)),
        start: clock.now(),
        maxInFlight: 3,
        clock,
        fire: async () => {
          most = Math.max(most, ++running);
          await clock.sleep(5);
          running--;
        },
      }),
    );
    expect(most).toBe(3);
    expect(r.counts.peakInFlight).toBe(3);
    expect(r.counts.started + r.counts.dropped.inFlightCap + r.counts.dropped.late).toBe(200);
    expect(r.counts.dropped.inFlightCap).toBeGreaterThan(0);
    expect(r.counts.completed).toBe(r.counts.started);
  });

  it('lets completions free slots during a burst of arrivals due at once', async () => {
    const clock = new VirtualClock();
    const burst: Arrival[] = Array.from({ length: 200 }, (_, index) => ({ index, atMs: 0 }));
    const r = await clock.drive(
      runOpenLoop({ schedule: burst, start: clock.now(), maxInFlight: 10, clock, fire: async () => {} }),
    );
    expect(r.counts.started).toBeGreaterThan(10);
    expect(r.counts.started + r.counts.dropped.inFlightCap).toBe(200);
    expect(r.counts.completed).toBe(r.counts.started);
  });

  it('counts rejected and throwing fires as errors, with samples, and keeps them out of latency', async () => {
    const clock = new VirtualClock();
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(100, 100)),
        start: clock.now(),
        maxInFlight: 100,
        clock,
        fire: (a) => {
          if (a.index % 5 === 0) throw new Error(`sync ${a.index}`);
          if (a.index % 5 === 1) return Promise.reject(new Error(`async ${a.index}`));
          return Promise.resolve();
        },
      }),
    );
    expect(r.counts).toMatchObject({ started: 10, completed: 6, errors: 4, unfinished: 0 });
    expect(r.latency.totalCount).toBe(6);
    expect(r.errorSamples).toEqual(['sync 0', 'async 1', 'sync 5', 'async 6']);
  });

  it('stops starting arrivals when interrupted, lets the running ones finish, and says so', async () => {
    const clock = new VirtualClock();
    const stop = new AbortController();
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(10, 10_000)),
        start: clock.now(),
        maxInFlight: 100,
        clock,
        signal: stop.signal,
        fire: async (a) => {
          if (a.index === 29) stop.abort();
          await clock.sleep(10_000);
        },
      }),
    );
    expect(r.interrupted).toBe(true);
    expect(r.counts.started).toBe(30);
    expect(r.counts.due).toBe(30);
    expect(r.counts.completed).toBe(30);
    expect(r.counts.unfinished).toBe(0);
  });

  it('after an interrupt, waits for running arrivals only as long as the drain bound', async () => {
    const clock = new VirtualClock();
    const stop = new AbortController();
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(10, 10_000)),
        start: clock.now(),
        maxInFlight: 100,
        clock,
        signal: stop.signal,
        drainTimeoutMs: 1_000,
        fire: async (a) => {
          if (a.index === 29) stop.abort();
          await clock.sleep(10_000);
        },
      }),
    );
    expect(r.interrupted).toBe(true);
    expect(r.counts.started).toBe(30);
    expect(r.counts.unfinished).toBe(30);
  });

  it('does not let arrivals finishing after the result change its counts', async () => {
    const clock = new VirtualClock();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const r = await clock.drive(
      runOpenLoop({
        schedule: arrivals(steady(10, 1000)),
        start: clock.now(),
        maxInFlight: 100,
        clock,
        drainTimeoutMs: 100,
        fire: () => gate,
      }),
    );
    release();
    await new Promise((res) => setImmediate(res));
    expect(r.counts).toMatchObject({ started: 10, completed: 0, unfinished: 10 });
  });

  it('rejects a maxInFlight below 1', async () => {
    await expect(runOpenLoop({ schedule: [], start: 0, maxInFlight: 0, fire: async () => {} })).rejects.toThrow(
      /maxInFlight: 0/,
    );
  });
});

describe('the open-loop scheduler on the real clock', () => {
  it('accounts for every one of 2,000 arrivals over 1 s', async () => {
    const schedule = arrivals(steady(2000, 1000));
    const r = await runOpenLoop({
      schedule,
      start: Date.now() + 50,
      maxInFlight: 200,
      fire: () => new Promise<void>((res) => setTimeout(res, 2)),
    });
    expect(r.counts.due).toBe(2000);
    expect(r.counts.started + r.counts.dropped.late + r.counts.dropped.inFlightCap).toBe(2000);
    expect(r.counts.completed + r.counts.errors + r.counts.unfinished).toBe(r.counts.started);
    expect(r.latency.totalCount).toBe(r.counts.completed);
    expect(r.lateness.totalCount).toBe(r.counts.started);
    // Generous: even a starved box starts some arrivals and runs the profile's length, not less.
    expect(r.counts.started).toBeGreaterThan(0);
    expect(r.endedAt - r.startedAt).toBeGreaterThanOrEqual(950);
  });
});
