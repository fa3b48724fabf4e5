// One consumer of a consumer group: reads on its own blocking connection, handles up to
// `concurrency` messages at once (a slow provider call must not hold up the others), and
// acknowledges each message only after its handler finished, i.e. after the effect is recorded.
//
// What a dead consumer read but never acknowledged is claimed with XAUTOCLAIM once a message
// has been idle for `claimIdleMs`: at start, and every `claimIdleMs` while running. A handler
// that throws is retried here with backoff, up to `maxAttempts`, then given up (the message is
// acknowledged after `onGiveUp` answered its waiter). Handlers are idempotent, so a message
// handled twice (a claim of a message a slow, not dead, consumer still works on; a crash after
// the effect and before the ack) changes nothing twice.
import type { Redis } from 'ioredis';

export type StreamEntry = [id: string, fields: string[] | null];

export interface ConsumerOptions {
  stream: string;
  group: string;
  /** Unique per consumer (process, instance, role). */
  name: string;
  /** Blocking reads; the consumer's own connection (disconnected by stop()). */
  reader: Redis;
  /** Acknowledgements; may be shared. */
  writer: Redis;
  handle: (id: string, fields: string[] | null) => Promise<void>;
  /** After the last failed attempt, before the ack: answer the waiter. */
  onGiveUp: (id: string, fields: string[] | null, err: unknown) => Promise<void>;
  concurrency: number;
  claimIdleMs: number;
  maxAttempts?: number;
  blockMs?: number;
  retryBackoffMs?: number;
}

export interface ConsumerStats {
  handled: number;
  claimed: number;
  retried: number;
  gaveUp: number;
  lastError?: Error;
}

const RETRY_LOOP_MS = 100;

export class StreamConsumer {
  readonly stats: ConsumerStats = { handled: 0, claimed: 0, retried: 0, gaveUp: 0 };
  private stopped = false;
  private dead = false;
  private reading = false;
  /** Messages being handled (or waiting for a retry) here: a claim must not start them again. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly attempts = new Map<string, number>();
  private readonly done: Promise<void>;
  private readonly maxAttempts: number;
  private readonly blockMs: number;
  private readonly retryBackoffMs: number;
  private wake?: () => void;

  constructor(private readonly o: ConsumerOptions) {
    this.maxAttempts = o.maxAttempts ?? 5;
    this.blockMs = o.blockMs ?? 1_000;
    this.retryBackoffMs = o.retryBackoffMs ?? 100;
    this.done = this.run();
  }

  /** Stops reading, lets the messages in hand finish (and be acknowledged), then closes the reader. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reading) this.o.reader.disconnect();
    this.wake?.();
    await this.done;
    await Promise.allSettled([...this.inFlight.values()]);
    this.o.reader.disconnect();
  }

  /** A consumer that crashes: stops reading at once and leaves what it holds unacknowledged (tests). */
  kill(): void {
    this.stopped = true;
    this.dead = true;
    this.o.reader.disconnect();
    this.wake?.();
  }

  private async run(): Promise<void> {
    let lastClaim = 0;
    while (!this.stopped) {
      try {
        if (Date.now() - lastClaim >= this.o.claimIdleMs || lastClaim === 0) {
          await this.claim();
          lastClaim = Date.now();
          continue;
        }
        const room = this.o.concurrency - this.inFlight.size;
        if (room <= 0) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
            setTimeout(resolve, this.blockMs).unref();
          });
          this.wake = undefined;
          continue;
        }
        this.reading = true;
        const block = Math.max(1, Math.min(this.blockMs, this.o.claimIdleMs - (Date.now() - lastClaim)));
        const got = (await this.o.reader.xreadgroup('GROUP', this.o.group, this.o.name, 'COUNT', room, 'BLOCK', block, 'STREAMS', this.o.stream, '>')) as
          | [string, StreamEntry[]][]
          | null;
        this.reading = false;
        for (const [id, fields] of got?.[0]?.[1] ?? []) this.dispatch(id, fields);
      } catch (err) {
        this.reading = false;
        if (this.stopped) return;
        this.stats.lastError = err as Error;
        await new Promise((r) => setTimeout(r, RETRY_LOOP_MS));
      }
    }
  }

  /** Takes over every message idle longer than claimIdleMs (a dead consumer's, or its own failed ones). */
  private async claim(): Promise<void> {
    let cursor = '0-0';
    do {
      const reply = (await this.o.reader.xautoclaim(this.o.stream, this.o.group, this.o.name, this.o.claimIdleMs, cursor, 'COUNT', 100)) as [string, StreamEntry[], string[]?];
      const [next, entries] = reply;
      for (const [id, fields] of entries) {
        if (this.inFlight.has(id)) continue;
        this.stats.claimed++;
        this.dispatch(id, fields);
      }
      cursor = next;
    } while (cursor !== '0-0' && !this.stopped);
  }

  private dispatch(id: string, fields: string[] | null): void {
    if (this.inFlight.has(id)) return;
    const work = this.attempt(id, fields).finally(() => {
      this.inFlight.delete(id);
      this.attempts.delete(id);
      this.wake?.();
    });
    this.inFlight.set(id, work);
  }

  private async attempt(id: string, fields: string[] | null): Promise<void> {
    for (;;) {
      const n = (this.attempts.get(id) ?? 0) + 1;
      this.attempts.set(id, n);
      try {
        await this.o.handle(id, fields);
        this.stats.handled++;
        break;
      } catch (err) {
        this.stats.lastError = err as Error;
        if (this.dead) return;
        if (n >= this.maxAttempts) {
          this.stats.gaveUp++;
          try {
            await this.o.onGiveUp(id, fields, err);
          } catch {
            // Left pending: another claim tries again later.
            return;
          }
          break;
        }
        // A stopped consumer leaves the message pending for the next one.
        if (this.stopped) return;
        this.stats.retried++;
        await new Promise((r) => setTimeout(r, this.retryBackoffMs * 2 ** (n - 1)));
      }
    }
    // After the effect: a crash before this line redelivers, and the handler is idempotent.
    if (this.dead) return;
    await this.o.writer.xack(this.o.stream, this.o.group, id).catch((err: unknown) => {
      // Unacknowledged, it is claimed and handled again later: harmless, handlers are idempotent.
      this.stats.lastError = err as Error;
    });
  }
}
