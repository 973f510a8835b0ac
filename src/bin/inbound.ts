#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --single-threaded-gc --interrupt-budget=524288 --heap-growing-percent=70
// The shebang tunes memory for a process that parses on several threads:
// glibc gives every thread its own malloc arena (8 per core) that keeps its
// high-water mark, and V8 lets the main thread's young generation grow to
// 48 MB. Two arenas and 2 MB semi-spaces took ~120 MB off the peak RSS of a
// 2,000-message fetch at no measurable cost in its take rate. With every
// thread busy, V8's parallel GC helpers only competed for the same cores:
// collecting on the thread that allocates cut a fetch's CPU by a sixth
// (README, "Decisions"). `npm start` runs it the same way.
import { runCli } from "../cli/program.js";

// An unhandled rejection is a bug: let it end the process loudly rather than run on in an unknown state.
process.on("unhandledRejection", (reason) => {
  process.stderr.write(`inbound: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
  process.exit(70);
});

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
process.exitCode = code;
