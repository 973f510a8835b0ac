import { describe, expect, it } from "vitest";
import { InboundError } from "../../src/core/inbound-error.js";
import { errorResponse } from "../../src/server/http-status.js";

describe("error responses", () => {
  it("keeps a 500's code and advice but not its words, which name files on the server", () => {
    const missing = new InboundError("BLOB_NOT_FOUND", {
      message: "The segment file /var/lib/inbound/blobs/spool/0193.seg holding a stored message is missing; restore the blobs directory from a backup.",
      details: { path: "/var/lib/inbound/blobs/spool/0193.seg" },
    });
    const { status, body } = errorResponse(missing);
    expect(status).toBe(500);
    expect(body).toEqual({
      code: "BLOB_NOT_FOUND",
      message: "A stored raw message or attachment file is missing from the blob store; restore the blobs directory from a backup. The server log has the details.",
      details: {},
      retryable: false,
    });
    expect(JSON.stringify(errorResponse(new InboundError("STORE_FAILED", { message: "Raw spool: write failed: ENOSPC, /data/blobs/spool", retryable: true })).body)).not.toContain("/data");
  });

  it("keeps the words of other errors, which tell the caller what to fix", () => {
    const refused = new InboundError("IMAP_AUTH_FAILED", { message: "imap.example.com rejected the login of ann; check the password.", details: { host: "imap.example.com" } });
    expect(errorResponse(refused).body).toMatchObject({ code: "IMAP_AUTH_FAILED", message: refused.message, details: { host: "imap.example.com" } });
  });
});
