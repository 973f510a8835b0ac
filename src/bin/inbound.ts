#!/usr/bin/env node
import { runCli } from "../cli/program.js";

// An unhandled rejection is a bug: let it end the process loudly rather than run on in an unknown state.
process.on("unhandledRejection", (reason) => {
  process.stderr.write(`inbound: unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}\n`);
  process.exit(70);
});

const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
process.exitCode = code;
