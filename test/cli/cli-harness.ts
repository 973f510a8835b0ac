import { PassThrough, Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { runCli } from "../../src/cli/program.js";

/** What one in-process CLI run printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json<T = any>(): T;
}

/** A stdout and stderr for an in-process CLI run, and what was written to each. */
export function capturedOutput(): { stdout: PassThrough; stderr: PassThrough; out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (err += d));
  return { stdout, stderr, out: () => out, err: () => err };
}

/** Run `inbound ARGS` in-process with its own stdout/stderr and optional stdin text. */
export async function cli(args: string[], env: Record<string, string | undefined>, stdin = ""): Promise<CliResult> {
  const { stdout, stderr, out, err } = capturedOutput();
  const code = await runCli(args, { stdout, stderr, stdin: Readable.from([stdin]), env });
  // What was written may still be on its way to the 'data' listeners (a busy machine shows it).
  stdout.end();
  stderr.end();
  await Promise.all([finished(stdout), finished(stderr)]);
  return { code, stdout: out(), stderr: err(), json: () => JSON.parse(out()) };
}
