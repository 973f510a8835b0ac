import type { Readable } from "node:stream";
import { dele } from "./commands/dele.js";
import { list, type ListEntry } from "./commands/list.js";
import { noop } from "./commands/noop.js";
import { quit } from "./commands/quit.js";
import { retr, type RetrData } from "./commands/retr.js";
import { rset } from "./commands/rset.js";
import { stat, type StatData } from "./commands/stat.js";
import { top } from "./commands/top.js";
import { uidl, type UidlEntry } from "./commands/uidl.js";
import type { Pop3Capabilities } from "./pop3-capabilities.js";
import type { Pop3Client } from "./pop3-client.js";
import type { Pop3ResponseReader } from "./pop3-response-reader.js";

/** RETR commands kept in flight with PIPELINING: enough to hide latency, small enough to bound what queues at the server. */
export const RETR_PIPELINE_WINDOW = 16;
/** DELE commands sent per batch with PIPELINING. */
export const DELE_PIPELINE_WINDOW = 64;

/**
 * The {@link Pop3Client} over an authenticated connection; see `connectPop3`.
 *
 * @example
 * ```ts
 * const client = createPop3Session(reader, await capa(reader));
 * ```
 */
export function createPop3Session(reader: Pop3ResponseReader, capabilities: Pop3Capabilities): Pop3Client {
  return new Pop3Session(reader, capabilities);
}

class Pop3Session implements Pop3Client {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly reader: Pop3ResponseReader,
    readonly capabilities: Pop3Capabilities,
  ) {}

  stat(): Promise<StatData> {
    return this.exclusive(() => stat(this.reader));
  }

  list(): Promise<ListEntry[]> {
    return this.exclusive(() => list(this.reader));
  }

  uidl(): Promise<UidlEntry[]> {
    return this.exclusive(() => uidl(this.reader));
  }

  retrieve(numbers: number[], onMessage: (number: number, body: Readable) => Promise<void>): Promise<RetrData> {
    const window = this.pipelining ? RETR_PIPELINE_WINDOW : 1;
    return this.exclusive(() => retr(this.reader, numbers, { window }, onMessage));
  }

  top(number: number, lines: number): Promise<Buffer> {
    return this.exclusive(() => top(this.reader, number, lines));
  }

  dele(numbers: number[]): Promise<void> {
    const window = this.pipelining ? DELE_PIPELINE_WINDOW : 1;
    return this.exclusive(() => dele(this.reader, numbers, { window }));
  }

  noop(): Promise<void> {
    return this.exclusive(() => noop(this.reader));
  }

  rset(): Promise<void> {
    return this.exclusive(() => rset(this.reader));
  }

  quit(): Promise<void> {
    return this.exclusive(() => quit(this.reader));
  }

  close(): void {
    this.reader.connection.close();
  }

  private get pipelining(): boolean {
    return this.capabilities.has("PIPELINING");
  }

  // One command sequence at a time: POP3 replies carry no tags to match them otherwise.
  private exclusive<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }
}
