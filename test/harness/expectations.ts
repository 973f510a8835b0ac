import type { Readable } from "node:stream";
import { expect } from "vitest";
import { InboundError } from "../../src/core/inbound-error.js";

/** Await a promise that must reject with an InboundError, and return that error. */
export async function rejection(promise: Promise<unknown>): Promise<InboundError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(InboundError);
    return error as InboundError;
  }
  throw new Error("expected a rejection");
}

/** Read a stream (or take a buffer) whole. */
export async function collect(body: Readable | Buffer): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}
