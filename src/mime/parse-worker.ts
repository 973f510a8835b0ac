/*
 * Worker-thread entry for the parse pool. Messages in and out are the typed
 * shapes below; results cross as plain data with the date as an ISO string.
 */
import { parentPort, workerData } from "node:worker_threads";
import { isInboundError } from "../core/inbound-error.js";
import { lowerThreadPriority } from "./lower-thread-priority.js";
import type { ParsedMessage } from "./parse-message.js";
import { inlineImageUrlFromTemplate } from "./finish-parse.js";
import { parseRaw } from "./parse-raw.js";
import type { ParseJob, ParseReply, WireParsedMessage } from "./parse-pool.js";

if (parentPort === null) throw new Error("parse-worker.ts runs only as a worker thread");
const port = parentPort;
const niceness = (workerData as { niceness?: number } | undefined)?.niceness ?? 0;
if (niceness > 0) lowerThreadPriority(niceness);

port.on("message", (job: ParseJob) => {
  void run(job).then((reply) => port.postMessage(reply));
});

async function run(job: ParseJob): Promise<ParseReply> {
  try {
    const { inlineImageUrlTemplate, ...options } = job.options;
    const template = inlineImageUrlTemplate;
    const parsed = await parseRaw(job.source, {
      ...options,
      inlineImageUrl: template === undefined ? undefined : inlineImageUrlFromTemplate(template),
    });
    return { jobId: job.jobId, ok: true, result: toWire(parsed) };
  } catch (error) {
    const e = error as Error;
    return {
      jobId: job.jobId,
      ok: false,
      error: isInboundError(e)
        ? { inbound: true, ...e.toJSON() }
        : { inbound: false, message: e?.message ?? String(error) },
    };
  }
}

function toWire(parsed: ParsedMessage): WireParsedMessage {
  return { ...parsed, date: parsed.date === null ? null : parsed.date.toISOString() };
}
