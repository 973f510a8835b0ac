// The real parse worker, except that a job for a file named crash.eml kills
// the thread the way a native crash would: the pool must survive it.
// The exit waits until the worker has loaded: on Node 20 a worker that dies
// while tsx's loader hooks are mid-import wedges the next worker's imports,
// a dev-only artefact of running from .ts that compiled workers don't have.
import { parentPort } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import("../../src/mime/parse-worker.ts");
parentPort.on("message", (job) => {
  if (job.source.path.endsWith("crash.eml")) process.exit(3);
});
