// Request/reply over Redis, the caller's side: callers wait by correlation id, bounded in
// time, and one blocking reader per instance collects every answer (the queue strategy's
// reply list, the async engine's answer streams). The worker's side is group-worker.ts.
import type { Redis } from 'ioredis';

interface Waiter<T, C> {
  context: C;
  resolve: (v: T) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The callers waiting for an answer, by correlation id. A waiter is settled once, then forgotten. */
export class Waiters<T, C = undefined> {
  private readonly map = new Map<string, Waiter<T, C>>();

  /** Waits for `corr`'s answer; after `ms` the waiter is forgotten first, then `onTimeout` settles it. */
  wait(
    corr: string,
    ms: number,
    context: C,
    onTimeout: (settle: { resolve: (v: T) => void; reject: (e: Error) => void }) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.map.delete(corr);
        onTimeout({ resolve, reject });
      }, ms);
      this.map.set(corr, { context, resolve, reject, timer });
    });
  }

  /** Takes `corr`'s waiter out (undefined: answered already, given up, or another instance's). */
  take(corr: string): Omit<Waiter<T, C>, 'timer'> | undefined {
    const w = this.map.get(corr);
    if (!w) return undefined;
    this.map.delete(corr);
    clearTimeout(w.timer);
    return w;
  }

  /** Forgets `corr` without settling it (its request was never sent). */
  cancel(corr: string): void {
    this.take(corr);
  }

  /** Settles every waiter (on close). */
  settleAll(settle: (w: Omit<Waiter<T, C>, 'timer'>) => void): void {
    for (const corr of [...this.map.keys()]) settle(this.take(corr)!);
  }
}

/**
 * A connection for blocking commands, opened on first use. One that ioredis gave up on, or
 * that answered MOVED (its slot moved to another master of a cluster), is dropped, and the
 * next use opens another.
 */
export class BlockingConnection {
  private conn?: Redis;
  private opening?: Promise<Redis>;

  constructor(
    private readonly open: () => Promise<Redis>,
    conn?: Redis,
  ) {
    this.conn = conn;
  }

  async get(): Promise<Redis> {
    if (this.conn) return this.conn;
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return (this.conn = await this.opening);
  }

  /** After a failed command: keeps a connection ioredis reconnects on its own, drops any other. */
  failed(err: unknown): void {
    if (!this.conn) return;
    if (this.conn.status === 'end' || /^(MOVED|ASK) /.test((err as Error)?.message ?? '')) {
      this.conn.disconnect();
      this.conn = undefined;
    }
  }

  /** Cuts a blocking command short (it rejects), and closes. */
  disconnect(): void {
    this.conn?.disconnect();
  }
}

export interface BlockingReaderOptions {
  conn: BlockingConnection;
  /** One read: blocks for at most its own timeout, and handles what it got. */
  read: (conn: Redis) => Promise<void>;
  /** After a failed read, before waiting `rereadMs` (e.g. to recover what a lost reply held). */
  onError?: (err: Error) => void;
  rereadMs: number;
}

/** Reads until stopped; a failed read is recorded and tried again after `rereadMs`, no waiter fails for it. */
export class BlockingReader {
  private closed = false;
  private readonly done: Promise<void>;
  /** The last read's error, kept for a person debugging; it reads on regardless. */
  lastError?: Error;

  constructor(private readonly o: BlockingReaderOptions) {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.closed = true;
    this.o.conn.disconnect();
    await this.done;
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        const conn = await this.o.conn.get();
        if (this.closed) break;
        await this.o.read(conn);
      } catch (err) {
        if (this.closed) break;
        this.lastError = err as Error;
        this.o.conn.failed(err);
        this.o.onError?.(err as Error);
        await new Promise((r) => setTimeout(r, this.o.rereadMs));
      }
    }
    this.o.conn.disconnect();
  }
}
