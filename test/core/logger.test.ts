import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger, SECRET_FIELDS } from "../../src/core/logger.js";

/** Log one record through a logger writing to a buffer, and return the parsed JSON line. */
async function logged(write: (log: ReturnType<typeof createLogger>) => void): Promise<Record<string, unknown>> {
  const destination = new PassThrough();
  let out = "";
  destination.on("data", (chunk) => (out += chunk));
  write(createLogger({ level: "trace", destination }));
  await new Promise((resolve) => setImmediate(resolve));
  return JSON.parse(out.trim()) as Record<string, unknown>;
}

describe("the logger", () => {
  it("redacts every secret field at the top level and two levels down, and keeps the rest", async () => {
    const secrets = Object.fromEntries(SECRET_FIELDS.map((field, i) => [field, `s3cret-${i}`]));
    const line = JSON.stringify(await logged((log) => log.debug({ ...secrets, account: { name: "support", ...secrets, oauth: { ...secrets } } }, "account changed")));
    for (const value of Object.values(secrets)) expect(line).not.toContain(value);
    expect(line).toContain('"name":"support"');
    expect(line).toContain('"msg":"account changed"');
    expect(line.match(/\[redacted\]/g)?.length).toBe(SECRET_FIELDS.length * 3);
  });

  it("logs at the level asked for and drops what is below it", async () => {
    const destination = new PassThrough();
    let out = "";
    destination.on("data", (chunk) => (out += chunk));
    const log = createLogger({ level: "warn", destination });
    log.info("not shown");
    log.warn({ password: "hunter2" }, "shown");
    await new Promise((resolve) => setImmediate(resolve));
    expect(out).not.toContain("not shown");
    expect(out).toContain('"msg":"shown"');
    expect(out).not.toContain("hunter2");
  });
});
