import { describe, expect, it } from "vitest";
import { sourceKey } from "../../src/store/source-key.js";

describe("sourceKey", () => {
  it("names IMAP messages by folder, UIDVALIDITY and UID, and POP3 messages by UIDL", () => {
    expect(sourceKey({ protocol: "imap", folder: "INBOX", uidValidity: 1700000000n, uid: 42 })).toBe("imap:INBOX:1700000000:42");
    expect(sourceKey({ protocol: "imap", folder: "a:b", uidValidity: "3", uid: 1 })).toBe("imap:a:b:3:1");
    expect(sourceKey({ protocol: "pop3", uidl: "0001a" })).toBe("pop3:0001a");
  });

  it("refuses values no server sends", () => {
    expect(() => sourceKey({ protocol: "imap", folder: "INBOX", uidValidity: "x", uid: 1 })).toThrow(RangeError);
    expect(() => sourceKey({ protocol: "imap", folder: "INBOX", uidValidity: 1, uid: 0 })).toThrow(RangeError);
    expect(() => sourceKey({ protocol: "pop3", uidl: "" })).toThrow(RangeError);
  });
});
