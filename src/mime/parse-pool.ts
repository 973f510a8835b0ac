import { availableParallelism } from "node:os";
import { Worker, type ResourceLimits } from "node:worker_threads";
import type { ErrorCode } from "../core/error-codes.js";
import { InboundError } from "../core/inbound-error.js";
import type { ParsedMessage, ParseOptions } from "./parse-message.js";
import type { RawSource } from "./parse-raw.js";

/** Options for {@link createParsePool}. */
export interface ParsePoolOptions {
  /** Number of worker threads. Default `os.availableParallelism()`. */
  size?: number;
  /**
   * The worker script, for bundlers that move files. Default: the
   * parse-worker next to this module (compiled .js, or the .ts sources
   * through parse-worker-tsx.mjs).
   */
  workerUrl?: URL;
  /**
   * Nice value for the worker threads (Linux; 0 = as the main thread).
   * Default 10: parsing yields the CPU to taking messages off the server,
   * which is what makes them safe; it still gets every idle cycle.
   */
  niceness?: number;
  /**
   * V8 heap limits of each worker. Default: a 32 MB young generation and a
   * 128 MB old generation. Without a cap V8 lets a parse worker's heap grow
   * far past what it holds (~100 MB of peak RSS per worker, mostly garbage
   * waiting for a lazy major GC); with it, it collects sooner. A message too
   * big for the cap (a 10 MB HTML body needs more) is parsed again, alone,
   * on a worker without the old-generation cap that is ended afterwards.
   * A process started with `--max-semi-space-size` (the `inbound`
   * executable is) gets that semi-space in its workers too: V8 lets the flag
   * win over the young-generation limit given here.
   */
  resourceLimits?: ResourceLimits;
  /**
   * Parses one worker runs at once. Default 2: while one waits for the disk
   * (every attachment and raw copy is fsynced) the other uses the CPU.
   */
  jobsPerWorker?: number;
}

/**
 * {@link ParseOptions} for a pool: functions can't cross threads, so the
 * inline image URL is a template with `{id}`, `{contentId}` and `{sha256}`,
 * e.g. `/api/v1/attachments/{id}/content` (also the default).
 */
export type PoolParseOptions = Omit<ParseOptions, "inlineImageUrl"> & { inlineImageUrlTemplate?: string };

/** Parses messages on worker threads. A handle: call `close()` when done. */
export interface ParsePool {
  /** Parse the raw message at `source` (a file path, or a spool range) on a free worker; waits in a queue when all are busy. */
  parse(source: string | RawSource, options: PoolParseOptions): Promise<ParsedMessage>;
  /** Terminate the workers; queued and running parses reject with ABORTED. */
  close(): Promise<void>;
}

/** @internal What the pool sends a worker. */
export interface ParseJob {
  jobId: number;
  source: RawSource;
  options: PoolParseOptions;
}

/** @internal A ParsedMessage as it crosses threads. */
export type WireParsedMessage = Omit<ParsedMessage, "date"> & { date: string | null };

/** @internal What a worker answers. */
export type ParseReply =
  | { jobId: number; ok: true; result: WireParsedMessage }
  | { jobId: number; ok: false; error: { inbound: true; code: ErrorCode; message: string; retryable: boolean; details: Record<string, unknown> } | { inbound: false; message: string } };

interface Pending {
  job: ParseJob;
  resolve: (value: ParsedMessage) => void;
  reject: (error: unknown) => void;
  /** It was running beside others when their worker died: it runs alone now, so a second death is its own. */
  suspect?: boolean;
  /** It ran a capped worker out of memory: it runs on a worker without the old-generation cap. */
  roomy?: boolean;
}

interface Slot {
  worker: Worker;
  running: Map<number, Pending>;
  /** No old-generation cap; runs one parse and is ended. */
  roomy: boolean;
}

function defaultWorkerUrl(): URL {
  // Running from .ts sources (vitest, tsx), the worker is TypeScript too and
  // needs tsx registered inside the worker; see parse-worker-tsx.mjs.
  if (import.meta.url.endsWith(".ts")) return new URL("./parse-worker-tsx.mjs", import.meta.url);
  return new URL("./parse-worker.js", import.meta.url);
}

/**
 * Parse messages off the main thread so parsing uses every core and a slow
 * message does not stall the event loop. A worker that dies fails only the
 * parse it was running (MESSAGE_PARSE_FAILED, not retryable: the message may
 * be what killed it) and is replaced.
 *
 * @example
 * ```ts
 * const pool = createParsePool({ size: 2 });
 * try {
 *   const parsed = await pool.parse("/data/raw/1.eml", { blobDir: "/data/blobs", sanitize: true, inlineImages: true });
 * } finally {
 *   await pool.close();
 * }
 * ```
 */
export function createParsePool(options: ParsePoolOptions = {}): ParsePool {
  const size = Math.max(1, options.size ?? availableParallelism());
  const url = options.workerUrl ?? defaultWorkerUrl();
  const niceness = options.niceness ?? 10;
  const resourceLimits = options.resourceLimits ?? { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 128 };
  const { maxOldGenerationSizeMb: _cap, ...roomyLimits } = resourceLimits;
  const perWorker = Math.max(1, options.jobsPerWorker ?? 2);
  const slots: Slot[] = [];
  const queue: Pending[] = [];
  let nextJobId = 1;
  let closed = false;

  function spawn(roomy: boolean): Slot {
    const worker = new Worker(url, { workerData: { niceness }, resourceLimits: roomy ? roomyLimits : resourceLimits });
    const slot: Slot = { worker, running: new Map(), roomy };
    worker.on("message", (reply: ParseReply) => {
      const pending = slot.running.get(reply.jobId);
      if (pending === undefined) return;
      slot.running.delete(reply.jobId);
      if (reply.ok) pending.resolve({ ...reply.result, date: reply.result.date === null ? null : new Date(reply.result.date) });
      else pending.reject(reviveError(reply.error));
      if (slot.roomy) retire(slot);
      dispatch();
    });
    const fail = (reason: string, outOfMemory: boolean): void => {
      const index = slots.indexOf(slot);
      if (index === -1) return;
      slots.splice(index, 1);
      const running = [...slot.running.values()];
      slot.running.clear();
      for (const pending of running) {
        if (outOfMemory && !slot.roomy) {
          // Too big for a capped worker (or beside one that was): again, alone, without the cap.
          pending.roomy = true;
          queue.unshift(pending);
        } else if (running.length === 1 || pending.suspect) {
          pending.reject(new InboundError("MESSAGE_PARSE_FAILED", {
            message: `The parse worker died while parsing ${pending.job.source.path}: ${reason}`,
            retryable: false,
          }));
        } else {
          // Any of them may have killed it: each runs again, alone, so only the culprit fails.
          pending.suspect = true;
          queue.unshift(pending);
        }
      }
      if (!closed) dispatch();
    };
    worker.on("error", (error: Error & { code?: string }) => fail(error.message, error.code === "ERR_WORKER_OUT_OF_MEMORY"));
    worker.on("exit", (code) => fail(`worker exited with code ${code}`, false));
    slots.push(slot);
    return slot;
  }

  /** End a worker that has nothing left to do (a roomy one holds its big heap otherwise). */
  function retire(slot: Slot): void {
    const index = slots.indexOf(slot);
    if (index !== -1) slots.splice(index, 1);
    void slot.worker.terminate();
  }

  function dispatch(): void {
    while (!closed && queue.length > 0) {
      const next = queue[0];
      const fits = (slot: Slot): boolean => {
        if (next.roomy) return slot.roomy && slot.running.size === 0;
        if (slot.roomy) return false;
        return next.suspect ? slot.running.size === 0 : slot.running.size < perWorker && ![...slot.running.values()].some((p) => p.suspect);
      };
      let slot = slots.find(fits);
      if (slot === undefined) {
        // At most one roomy worker, beside the pool's own.
        if (next.roomy ? slots.some((s) => s.roomy) : slots.filter((s) => !s.roomy).length >= size) return;
        slot = spawn(next.roomy === true);
      }
      queue.shift();
      slot.running.set(next.job.jobId, next);
      slot.worker.postMessage(next.job);
    }
  }

  return {
    parse(path, parseOptions) {
      const source = typeof path === "string" ? { path } : path;
      if (closed) return Promise.reject(new InboundError("ABORTED", { message: "The parse pool is closed." }));
      return new Promise<ParsedMessage>((resolve, reject) => {
        queue.push({ job: { jobId: nextJobId++, source, options: parseOptions }, resolve, reject });
        dispatch();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      const aborted = (): InboundError => new InboundError("ABORTED", { message: "The parse pool was closed before this parse finished." });
      for (const pending of queue.splice(0)) pending.reject(aborted());
      const running = slots.splice(0);
      for (const slot of running) for (const pending of slot.running.values()) pending.reject(aborted());
      await Promise.all(running.map((slot) => slot.worker.terminate()));
    },
  };
}

function reviveError(error: Extract<ParseReply, { ok: false }>["error"]): Error {
  if (error.inbound) {
    return new InboundError(error.code, { message: error.message, retryable: error.retryable, details: error.details });
  }
  return new InboundError("MESSAGE_PARSE_FAILED", { message: error.message });
}
