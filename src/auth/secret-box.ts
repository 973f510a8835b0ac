import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { InboundError } from "../core/inbound-error.js";

const VERSION = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;

/**
 * A key's public name: the first 8 hex digits of its SHA-256. Stored in each
 * ciphertext so it records which key sealed it, without revealing the key.
 *
 * @example
 * ```ts
 * keyIdOf(randomBytes(32)); // "3f9a0c1e"
 * ```
 */
export function keyIdOf(key: Uint8Array): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 8);
}

/** Keys for {@link createSecretBox}: by id (as a key ring holds them) or a plain list; ids are checked/derived. */
export interface SecretBoxOptions {
  keys: ReadonlyMap<string, Uint8Array> | readonly Uint8Array[];
  /** Id of the key that seals; every key in `keys` can open. */
  activeKeyId: string;
}

/** Seals and opens small secrets (passwords, tokens) for storage. */
export interface SecretBox {
  readonly activeKeyId: string;
  /** Encrypt under the active key: `v1:<keyId>:<iv>:<tag>:<ciphertext>` (base64 parts). */
  seal(plaintext: string): string;
  /** Decrypt. Throws SECRET_KEY_UNKNOWN (no key with that id) or SECRET_KEY_MISMATCH (wrong key or tampered). Never returns garbage. */
  open(sealed: string): string;
  /** Re-seal under the active key; returns `sealed` unchanged when the active key already sealed it. */
  rotate(sealed: string): string;
  /** The id of the key that sealed `sealed`. */
  sealedWith(sealed: string): string;
}

function mismatch(message: string, cause?: unknown): InboundError {
  return new InboundError("SECRET_KEY_MISMATCH", { message, cause });
}

function parseSealed(sealed: string): { keyId: string; iv: Buffer; tag: Buffer; data: Buffer } {
  const parts = sealed.split(":");
  if (parts.length !== 5 || parts[0] !== VERSION || !/^[0-9a-f]{8}$/.test(parts[1])) {
    throw mismatch("A stored secret is not in Inbound's sealed format (v1:<keyId>:...); it was damaged or written by something else. Re-enter the secret (e.g. update the account's password).");
  }
  const [, keyId, iv, tag, data] = parts;
  return { keyId, iv: Buffer.from(iv, "base64"), tag: Buffer.from(tag, "base64"), data: Buffer.from(data, "base64") };
}

/**
 * AES-256-GCM secret box. The header `v1:<keyId>` is authenticated too, so a
 * ciphertext cannot be relabelled to another key.
 *
 * @example
 * ```ts
 * const box = createSecretBox(await loadKeyRing({ env: process.env, dataDir, log }));
 * const stored = box.seal("hunter2");
 * box.open(stored); // "hunter2"
 * ```
 */
export function createSecretBox(options: SecretBoxOptions): SecretBox {
  const keys = new Map<string, Buffer>();
  const entries: Array<[string | undefined, Uint8Array]> =
    options.keys instanceof Map ? [...options.keys.entries()] : (options.keys as readonly Uint8Array[]).map((k) => [undefined, k]);
  for (const [id, key] of entries) {
    if (key.byteLength !== KEY_BYTES) {
      throw new InboundError("SECRET_KEY_INVALID", { message: `An encryption key is ${key.byteLength} bytes; it must be ${KEY_BYTES}.` });
    }
    const derived = keyIdOf(key);
    if (id !== undefined && id !== derived) {
      throw new InboundError("SECRET_KEY_INVALID", { message: `Key listed as "${id}" has id ${derived}; key ids are derived from the key.` });
    }
    keys.set(derived, Buffer.from(key));
  }
  const activeKey = keys.get(options.activeKeyId);
  if (activeKey === undefined) {
    throw new InboundError("SECRET_KEY_UNKNOWN", { message: `The active key id ${options.activeKeyId} is not among the configured keys.` });
  }
  const activeKeyId = options.activeKeyId;

  function seal(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const header = `${VERSION}:${activeKeyId}`;
    const cipher = createCipheriv("aes-256-gcm", activeKey!, iv);
    cipher.setAAD(Buffer.from(header));
    const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return `${header}:${iv.toString("base64")}:${cipher.getAuthTag().toString("base64")}:${data.toString("base64")}`;
  }

  function open(sealed: string): string {
    const { keyId, iv, tag, data } = parseSealed(sealed);
    const key = keys.get(keyId);
    if (key === undefined) {
      throw new InboundError("SECRET_KEY_UNKNOWN", {
        message: `A stored secret was sealed with key ${keyId}, which is not configured (have: ${[...keys.keys()].join(", ")}). Add that key to INBOUND_ENCRYPTION_KEYS_OLD, or restore the secret.key file that held it.`,
        details: { keyId },
      });
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, iv);
      decipher.setAAD(Buffer.from(`${VERSION}:${keyId}`));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8");
    } catch (cause) {
      throw mismatch(
        `A stored secret sealed with key ${keyId} failed its integrity check: the key with that id is not the one that sealed it, or the stored value was altered. Set INBOUND_ENCRYPTION_KEY (or secret.key) back to the original key, or re-enter the secret.`,
        cause,
      );
    }
  }

  return {
    activeKeyId,
    seal,
    open,
    rotate(sealed) {
      if (parseSealed(sealed).keyId === activeKeyId) {
        open(sealed); // still verify: rotation must not carry a damaged value forward
        return sealed;
      }
      return seal(open(sealed));
    },
    sealedWith: (sealed) => parseSealed(sealed).keyId,
  };
}
