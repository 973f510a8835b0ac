import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import { addKeyToFile, loadKeyRing } from "../../src/auth/key-ring.js";
import { createSecretBox, keyIdOf } from "../../src/auth/secret-box.js";

describe("key ring", () => {
  let dataDir: string;
  let logged: string[];
  const log = (message: string) => logged.push(message);
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "inbound-keys-"));
    logged = [];
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("creates secret.key with mode 0600 on first start, says so once, and reuses it silently", async () => {
    const first = await loadKeyRing({ env: {}, dataDir, log });
    expect(first.source).toBe("file");
    expect((await stat(join(dataDir, "secret.key"))).mode & 0o777).toBe(0o600);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("secret.key");
    const second = await loadKeyRing({ env: {}, dataDir, log });
    expect(second.activeKeyId).toBe(first.activeKeyId);
    expect(logged).toHaveLength(1);
  });

  it("uses INBOUND_ENCRYPTION_KEY given as base64 or hex, with old keys for opening", async () => {
    const key = randomBytes(32);
    const old = randomBytes(32);
    const ring = await loadKeyRing({ env: { INBOUND_ENCRYPTION_KEY: key.toString("base64"), INBOUND_ENCRYPTION_KEYS_OLD: ` ${old.toString("hex")} ,` }, dataDir, log });
    expect(ring).toMatchObject({ source: "env", activeKeyId: keyIdOf(key) });
    expect([...ring.keys.keys()].sort()).toEqual([keyIdOf(key), keyIdOf(old)].sort());
    const sealedWithOld = createSecretBox({ keys: [old], activeKeyId: keyIdOf(old) }).seal("pw");
    expect(createSecretBox(ring).open(sealedWithOld)).toBe("pw");
    expect(ring.keys.has(keyIdOf(Buffer.from(key.toString("hex"), "hex")))).toBe(true);
    await expect(stat(join(dataDir, "secret.key"))).rejects.toThrow(); // no key file when the variable is set
  });

  it("refuses a key of the wrong length with SECRET_KEY_INVALID naming the variable", async () => {
    for (const env of [{ INBOUND_ENCRYPTION_KEY: randomBytes(16).toString("base64") }, { INBOUND_ENCRYPTION_KEY: randomBytes(32).toString("base64"), INBOUND_ENCRYPTION_KEYS_OLD: "abc" }]) {
      const error = await loadKeyRing({ env, dataDir, log }).catch((e: unknown) => e);
      expect(isInboundError(error, "SECRET_KEY_INVALID")).toBe(true);
      expect((error as Error).message).toMatch(/INBOUND_ENCRYPTION_KEY/);
    }
  });

  it("adds a new active key to the file while keeping the old ones", async () => {
    const first = await loadKeyRing({ env: {}, dataDir, log });
    const sealed = createSecretBox(first).seal("pw");
    const rotated = await addKeyToFile({ dataDir });
    expect(rotated.activeKeyId).not.toBe(first.activeKeyId);
    const reloaded = await loadKeyRing({ env: {}, dataDir, log });
    expect(reloaded.activeKeyId).toBe(rotated.activeKeyId);
    expect(createSecretBox(reloaded).open(sealed)).toBe("pw");
    expect((await stat(join(dataDir, "secret.key"))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(dataDir, "secret.key"), "utf8")).keys).toHaveLength(2);
  });
});
