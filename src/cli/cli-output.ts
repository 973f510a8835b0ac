import { InboundError } from "../core/inbound-error.js";

/** Where a CLI run writes: stdout for results, stderr for progress and errors. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  env: Readonly<Record<string, string | undefined>>;
}

/** Print `value` as JSON (scripts) or through `human` (people). */
export function emit(io: CliIo, json: boolean, value: unknown, human: () => string): void {
  io.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** A plain text table with aligned columns. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/**
 * Report a failure: the catalogued code and a message that says what to do.
 * Returns the exit code (2 for invalid input, 1 otherwise).
 */
export function reportError(io: CliIo, json: boolean, error: unknown): number {
  const inbound = error instanceof InboundError ? error : undefined;
  const payload = inbound
    ? inbound.toJSON()
    : { code: "UNEXPECTED", message: error instanceof Error ? error.message : String(error), retryable: false, details: {} };
  if (json) io.stdout.write(`${JSON.stringify({ error: payload }, null, 2)}\n`);
  else {
    io.stderr.write(`error [${payload.code}]: ${payload.message}\n`);
    const fields = (payload.details as { fields?: Array<{ field: string; message: string }> }).fields;
    if (fields && fields.length > 1) for (const f of fields) io.stderr.write(`  - ${f.field}: ${f.message}\n`);
  }
  return payload.code === "CONFIG_INVALID" ? 2 : 1;
}

/** A one-line progress display on a TTY (redrawn in place); silent otherwise. */
export function progressLine(io: CliIo): { update(text: string): void; done(): void } {
  const tty = Boolean(io.stderr.isTTY);
  let shown = false;
  return {
    update(text) {
      if (!tty) return;
      io.stderr.write(`\r\x1b[2K${text}`);
      shown = true;
    },
    done() {
      if (tty && shown) io.stderr.write("\r\x1b[2K");
    },
  };
}
