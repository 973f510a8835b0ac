import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { isInboundError } from "../../src/core/inbound-error.js";
import { createSecretBox, keyIdOf } from "../../src/auth/secret-box.js";

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("secret box", () => {
  const key = randomBytes(32);
  const box = createSecretBox({ keys: [key], activeKeyId: keyIdOf(key) });

  it("seals to a versioned string naming the key, and opens it back", () => {
    const sealed = box.seal("pässword");
    expect(sealed).toMatch(new RegExp(`^v1:${keyIdOf(key)}:[^:]+:[^:]+:[^:]+$`));
    expect(sealed).not.toContain("pässword");
    expect(box.open(sealed)).toBe("pässword");
    expect(box.seal("pässword")).not.toBe(sealed); // fresh IV each time
  });

  it("opening with a different key under the same id fails with SECRET_KEY_MISMATCH, never garbage", () => {
    const sealed = box.seal("secret");
    const [v, id, iv, tag, data] = sealed.split(":");
    const flipped = Buffer.from(data, "base64");
    flipped[0] ^= 1;
    const error = errorOf(() => box.open([v, id, iv, tag, flipped.toString("base64")].join(":")));
    expect(isInboundError(error, "SECRET_KEY_MISMATCH")).toBe(true);
    expect((error as Error).message).toMatch(/INBOUND_ENCRYPTION_KEY/);
  });

  it("a ciphertext relabelled to another key id fails with SECRET_KEY_MISMATCH", () => {
    const other = randomBytes(32);
    const both = createSecretBox({ keys: [key, other], activeKeyId: keyIdOf(key) });
    const relabelled = both.seal("secret").replace(keyIdOf(key), keyIdOf(other));
    expect(isInboundError(errorOf(() => both.open(relabelled)), "SECRET_KEY_MISMATCH")).toBe(true);
  });

  it("a ciphertext from a key the box lacks fails with SECRET_KEY_UNKNOWN", () => {
    const other = randomBytes(32);
    const sealed = createSecretBox({ keys: [other], activeKeyId: keyIdOf(other) }).seal("secret");
    expect(isInboundError(errorOf(() => box.open(sealed)), "SECRET_KEY_UNKNOWN")).toBe(true);
  });

  it("rotate re-seals under the active key and old ciphertexts still open with the ring", () => {
    const newKey = randomBytes(32);
    const oldSealed = box.seal("secret");
    const ring = createSecretBox({ keys: new Map([[keyIdOf(key), key], [keyIdOf(newKey), newKey]]), activeKeyId: keyIdOf(newKey) });
    expect(ring.open(oldSealed)).toBe("secret");
    const rotated = ring.rotate(oldSealed);
    expect(ring.sealedWith(rotated)).toBe(keyIdOf(newKey));
    expect(ring.rotate(rotated)).toBe(rotated);
    expect(createSecretBox({ keys: [newKey], activeKeyId: keyIdOf(newKey) }).open(rotated)).toBe("secret");
  });

  it("refuses keys that are not 32 bytes and an active id it does not hold", () => {
    expect(isInboundError(errorOf(() => createSecretBox({ keys: [randomBytes(16)], activeKeyId: "x" })), "SECRET_KEY_INVALID")).toBe(true);
    expect(isInboundError(errorOf(() => createSecretBox({ keys: [key], activeKeyId: "deadbeef" })), "SECRET_KEY_UNKNOWN")).toBe(true);
  });
});
