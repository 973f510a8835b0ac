import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InboundError } from "../core/inbound-error.js";
import { keyIdOf } from "./secret-box.js";

/** The keys a process can open secrets with, and the one it seals with. Pass it to `createSecretBox`. */
export interface KeyRing {
  keys: Map<string, Buffer>;
  activeKeyId: string;
  /** Where the active key came from. */
  source: "env" | "file";
}

/** Options for {@link loadKeyRing}. */
export interface LoadKeyRingOptions {
  /** Usually `process.env`. Reads INBOUND_ENCRYPTION_KEY and INBOUND_ENCRYPTION_KEYS_OLD. */
  env: Readonly<Record<string, string | undefined>>;
  /** Holds `secret.key` when no key is given in the environment. */
  dataDir: string;
  /** Told once when a key file is created, and when its permissions are too open. */
  log: (message: string) => void;
}

/** Name of the key file inside the data directory. */
export const KEY_FILE_NAME = "secret.key";

/*
 * secret.key is JSON: every key this installation has used, one marked active,
 * so `inbound keys rotate` can add a key and still open older ciphertexts.
 */
interface KeyFile {
  version: 1;
  active: string;
  keys: Array<{ id: string; key: string; createdAt: string }>;
}

/**
 * Decode a 32-byte key written as 64 hex digits or base64. Throws
 * SECRET_KEY_INVALID naming `variable`, never echoing the value.
 *
 * @example
 * ```ts
 * parseKey(randomBytes(32).toString("base64"), "INBOUND_ENCRYPTION_KEY").length; // 32
 * ```
 */
export function parseKey(text: string, variable: string): Buffer {
  const value = text.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(value)) key = Buffer.from(value, "hex");
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) key = Buffer.from(value, value.includes("-") || value.includes("_") ? "base64url" : "base64");
  if (key === undefined || key.length !== 32) {
    throw new InboundError("SECRET_KEY_INVALID", {
      message: `${variable} must be 32 bytes written as 64 hex digits or base64 (got ${key === undefined ? "neither hex nor base64" : `${key.length} bytes`}). Generate one with: openssl rand -base64 32`,
      details: { variable },
    });
  }
  return key;
}

function keyFilePath(dataDir: string): string {
  return join(dataDir, KEY_FILE_NAME);
}

async function readKeyFile(file: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(text) as KeyFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.keys) || typeof parsed.active !== "string") throw new Error("unexpected shape");
  } catch (cause) {
    throw new InboundError("SECRET_KEY_INVALID", { message: `${file} is not a valid Inbound key file; restore it from a backup.`, cause, details: { file } });
  }
  return parsed;
}

function ringFromFile(content: KeyFile, file: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  content.keys.forEach((entry, index) => {
    const key = parseKey(entry.key, `${file} key #${index + 1}`);
    keys.set(keyIdOf(key), key);
  });
  if (!keys.has(content.active)) {
    throw new InboundError("SECRET_KEY_INVALID", { message: `${file} names active key ${content.active} but holds no such key; restore it from a backup.` });
  }
  return keys;
}

function newKeyFile(existing: KeyFile | undefined): KeyFile {
  const key = randomBytes(32);
  const id = keyIdOf(key);
  return { version: 1, active: id, keys: [...(existing?.keys ?? []), { id, key: key.toString("base64"), createdAt: new Date().toISOString() }] };
}

async function writeKeyFileAtomically(file: string, content: KeyFile): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(tmp, JSON.stringify(content, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  await rename(tmp, file);
}

/**
 * Load the encryption keys. With INBOUND_ENCRYPTION_KEY set it is the active
 * key, INBOUND_ENCRYPTION_KEYS_OLD (comma-separated) and any keys in an
 * existing `<dataDir>/secret.key` can still open older secrets. Without it,
 * `<dataDir>/secret.key` is used, created (mode 0600) on first start.
 *
 * @example
 * ```ts
 * const box = createSecretBox(await loadKeyRing({ env: process.env, dataDir: "/var/lib/inbound", log: (m) => logger.warn(m) }));
 * ```
 */
export async function loadKeyRing(options: LoadKeyRingOptions): Promise<KeyRing> {
  const file = keyFilePath(options.dataDir);
  const envKey = options.env.INBOUND_ENCRYPTION_KEY?.trim();

  if (envKey) {
    const active = parseKey(envKey, "INBOUND_ENCRYPTION_KEY");
    const keys = new Map<string, Buffer>();
    // A file key from before the variable was set still opens what it sealed; the variable's key seals.
    const fromFile = await readKeyFile(file);
    if (fromFile !== undefined) for (const [id, key] of ringFromFile(fromFile, file)) keys.set(id, key);
    const old = (options.env.INBOUND_ENCRYPTION_KEYS_OLD ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
    old.forEach((text, index) => {
      const key = parseKey(text, `INBOUND_ENCRYPTION_KEYS_OLD (entry ${index + 1})`);
      keys.set(keyIdOf(key), key);
    });
    keys.set(keyIdOf(active), active);
    return { keys, activeKeyId: keyIdOf(active), source: "env" };
  }

  let content = await readKeyFile(file);
  if (content === undefined) {
    await mkdir(options.dataDir, { recursive: true });
    const created = newKeyFile(undefined);
    try {
      // "wx": if another process created it first, use theirs.
      await writeFile(file, JSON.stringify(created, null, 2) + "\n", { mode: 0o600, flag: "wx" });
      await chmod(file, 0o600); // umask cannot loosen it, but be explicit
      options.log(`Created a new encryption key in ${file} (mode 0600). Back it up: without it stored passwords cannot be read. Set INBOUND_ENCRYPTION_KEY to manage the key yourself.`);
      content = created;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      content = await readKeyFile(file);
      if (content === undefined) throw error;
    }
  } else {
    const mode = (await stat(file)).mode & 0o777;
    if ((mode & 0o077) !== 0) options.log(`${file} is readable by other users (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
  }
  return { keys: ringFromFile(content, file), activeKeyId: content.active, source: "file" };
}

/**
 * Add a new random key to `<dataDir>/secret.key` and make it active, keeping
 * the older keys so existing secrets still open. Follow with `rotateKeys` to
 * re-seal stored secrets under the new key. (With INBOUND_ENCRYPTION_KEY, rotate by
 * setting a new key and moving the old one to INBOUND_ENCRYPTION_KEYS_OLD instead.)
 *
 * @example
 * ```ts
 * const ring = await addKeyToFile({ dataDir });
 * await rotateKeys({ db, box: createSecretBox(ring) });
 * ```
 */
export async function addKeyToFile(options: { dataDir: string }): Promise<KeyRing> {
  const file = keyFilePath(options.dataDir);
  await mkdir(options.dataDir, { recursive: true });
  const content = newKeyFile(await readKeyFile(file));
  await writeKeyFileAtomically(file, content);
  return { keys: ringFromFile(content, file), activeKeyId: content.active, source: "file" };
}
