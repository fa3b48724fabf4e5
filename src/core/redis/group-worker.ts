// Request/reply over Redis, the worker's side: one consumer of a consumer group, reading its
// stream on a blocking connection of its own (on a cluster, to the master of the stream's
// slot). Subclasses say what one step of the loop is (claim, read, handle); this file owns
// the loop, its retry after a failed step, and a stop that only cuts an idle read short.
import type { Redis } from 'ioredis';
import type { BlockingConnection } from './request-reply.js';

export type StreamEntry = [id: string, fields: string[] | null];

export abstract class GroupWorker {
  protected stopped = false;
  private reading = false;
  private done?: Promise<void>;
  lastError?: Error;

  constructor(
    protected readonly reader: BlockingConnection,
    protected readonly stream: string,
    protected readonly group: string,
    protected readonly name: string,
    private readonly retryMs: number,
  ) {}

  /** One turn of the loop; a throw is recorded, `failed()` is told, and the loop goes on after `retryMs`. */
  protected abstract step(conn: Redis): Promise<void>;

  protected failed(_err: Error): void {}

  /** Starts the loop (from the subclass's constructor, once its fields are set). */
  protected start(): void {
    this.done = this.run();
  }

  /** Stops reading; a step being handled finishes first. */
  protected async stopLoop(): Promise<void> {
    this.stopped = true;
    if (this.reading) this.reader.disconnect();
    await this.done;
  }

  protected async readGroup(conn: Redis, count: number, blockMs: number, from: string): Promise<StreamEntry[]> {
    this.reading = true;
    try {
      const got = (await conn.xreadgroup(
        'GROUP',
        this.group,
        this.name,
        'COUNT',
        count,
        'BLOCK',
        blockMs,
        'STREAMS',
        this.stream,
        from,
      )) as [string, StreamEntry[]][] | null;
      return got?.[0]?.[1] ?? [];
    } finally {
      this.reading = false;
    }
  }

  /** XAUTOCLAIM from `cursor`: the next cursor ('0-0' once through) and the entries claimed. */
  protected async autoclaim(
    conn: Redis,
    idleMs: number,
    cursor: string,
    count: number,
  ): Promise<[string, StreamEntry[]]> {
    const [next, entries] = (await conn.xautoclaim(
      this.stream,
      this.group,
      this.name,
      idleMs,
      cursor,
      'COUNT',
      count,
    )) as [string, StreamEntry[]];
    return [next, entries];
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.step(await this.reader.get());
      } catch (err) {
        if (this.stopped) return;
        this.lastError = err as Error;
        this.reader.failed(err);
        this.failed(err as Error);
        await new Promise((r) => setTimeout(r, this.retryMs));
      }
    }
  }
}
