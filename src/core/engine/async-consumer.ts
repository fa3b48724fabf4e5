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
import { GroupWorker, type StreamEntry } from '../redis/group-worker.js';
import type { BlockingConnection } from '../redis/request-reply.js';

export type { StreamEntry };

export interface ConsumerOptions {
  stream: string;
  group: string;
  /** Unique per consumer (process, instance, role). */
  name: string;
  /** Blocking reads; the consumer's own connection (disconnected by stop()). */
  reader: BlockingConnection;
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

export class StreamConsumer extends GroupWorker {
  readonly stats: ConsumerStats = { handled: 0, claimed: 0, retried: 0, gaveUp: 0 };
  private dead = false;
  /** Messages being handled (or waiting for a retry) here: a claim must not start them again. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly attempts = new Map<string, number>();
  private readonly maxAttempts: number;
  private readonly blockMs: number;
  private readonly retryBackoffMs: number;
  private lastClaim = 0;
  private wake?: () => void;

  constructor(private readonly o: ConsumerOptions) {
    super(o.reader, o.stream, o.group, o.name, RETRY_LOOP_MS);
    this.maxAttempts = o.maxAttempts ?? 5;
    this.blockMs = o.blockMs ?? 1_000;
    this.retryBackoffMs = o.retryBackoffMs ?? 100;
    this.start();
  }

  /** Stops reading, lets the messages in hand finish (and be acknowledged), then closes the reader. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.stopLoop();
    await Promise.allSettled([...this.inFlight.values()]);
    this.reader.disconnect();
  }

  /** A consumer that crashes: stops reading at once and leaves what it holds unacknowledged (tests). */
  kill(): void {
    this.stopped = true;
    this.dead = true;
    this.reader.disconnect();
    this.wake?.();
  }

  protected override async step(conn: Redis): Promise<void> {
    if (Date.now() - this.lastClaim >= this.o.claimIdleMs || this.lastClaim === 0) {
      await this.claim(conn);
      this.lastClaim = Date.now();
      return;
    }
    const room = this.o.concurrency - this.inFlight.size;
    if (room <= 0) {
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.blockMs).unref();
      });
      this.wake = undefined;
      return;
    }
    const block = Math.max(1, Math.min(this.blockMs, this.o.claimIdleMs - (Date.now() - this.lastClaim)));
    for (const [id, fields] of await this.readGroup(conn, room, block, '>')) this.dispatch(id, fields);
  }

  protected override failed(err: Error): void {
    this.stats.lastError = err;
  }

  /** Takes over every message idle longer than claimIdleMs (a dead consumer's, or its own failed ones). */
  private async claim(conn: Redis): Promise<void> {
    let cursor = '0-0';
    do {
      const [next, entries] = await this.autoclaim(conn, this.o.claimIdleMs, cursor, 100);
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
