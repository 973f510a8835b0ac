import { describe, expect, it } from "vitest";
import { parseAccountSettings, updateAccountSettings } from "../../src/core/account-settings.js";
import { InboundError } from "../../src/core/inbound-error.js";

const base = { name: "support", protocol: "imap", host: "mail.example.com", username: "u", password: "p" };

function problems(input: unknown): Record<string, string> {
  try {
    parseAccountSettings(input);
  } catch (error) {
    expect(error).toBeInstanceOf(InboundError);
    expect((error as InboundError).code).toBe("CONFIG_INVALID");
    const fields = (error as InboundError).details.fields as Array<{ field: string; message: string }>;
    return Object.fromEntries(fields.map((f) => [f.field, f.message]));
  }
  throw new Error("expected CONFIG_INVALID");
}

describe("account settings", () => {
  it("fills defaults per protocol: STARTTLS required on 143/110, implicit TLS on 993/995", () => {
    expect(parseAccountSettings(base)).toMatchObject({ port: 143, security: "starttls", tlsVerify: true, folder: "INBOX", strategy: "oldest", limit: 50, batchSize: 50, after: "none", sanitize: true, enabled: true });
    expect(parseAccountSettings({ ...base, protocol: "imaps" })).toMatchObject({ port: 993, security: "tls" });
    expect(parseAccountSettings({ ...base, protocol: "pop3" })).toMatchObject({ port: 110, security: "starttls" });
    expect(parseAccountSettings({ ...base, protocol: "pop3s" })).toMatchObject({ port: 995, security: "tls" });
    expect(parseAccountSettings({ ...base, security: "none" })).toMatchObject({ port: 143, security: "none" });
  });

  it("names every wrong field at once", () => {
    expect(problems({ ...base, name: "", protocol: "smtp", port: 0, limit: -1, timeoutMs: 5, after: "archive", unknownSetting: 1 })).toEqual({
      name: "must not be empty",
      protocol: "must be one of imap, imaps, pop3, pop3s",
      port: "must be between 1 and 65535",
      limit: "must be at least 1",
      timeoutMs: "must be at least 1000 ms",
      after: "must be one of none, delete, move",
      unknownSetting: "is not a known setting",
    });
    expect(problems({ name: "x", protocol: "imap" })).toEqual({ host: "is required", username: "is required", password: "is required" });
  });

  it("says what a value of the wrong type must be, without repeating it, and keeps 'is required' for a setting that is absent", () => {
    expect(problems({ ...base, port: "x", tlsCa: 5, tlsVerify: "no", limit: null, password: ["hunter2"] })).toEqual({
      port: "must be a number",
      tlsCa: "must be a string",
      tlsVerify: "must be true or false",
      limit: "must be a number",
      password: "must be a string",
    });
    expect(problems({ ...base, password: undefined })).toEqual({ password: "is required" });
    expect(problems([1])).toEqual({ "(settings)": "must be an object" });
    expect(problems(null)).toEqual({ "(settings)": "must be an object" });
    expect(problems(undefined)).toEqual({ "(settings)": "must be an object" });
    // Never the wrong value itself: it may be a password.
    const secret = "hunter2-Very-Secret";
    for (const input of [{ ...base, password: [secret] }, { ...base, password: { value: secret } }, { ...base, username: [secret], password: 5 }]) {
      try {
        parseAccountSettings(input);
        throw new Error("expected CONFIG_INVALID");
      } catch (error) {
        expect((error as InboundError).code).toBe("CONFIG_INVALID");
        expect(JSON.stringify((error as InboundError).toJSON())).not.toContain(secret);
        expect((error as InboundError).message).not.toContain(secret);
      }
    }
  });

  it("updates name a wrong-type value by what it must be", () => {
    const current = parseAccountSettings(base);
    expect(() => updateAccountSettings(current, { port: "x" })).toThrow(/port: must be a number/);
    expect(() => updateAccountSettings(current, { batchSize: "many" })).toThrow(/batchSize: must be a number/);
  });

  it("refuses combinations that cannot work", () => {
    expect(problems({ ...base, protocol: "pop3", after: "move", moveTo: "Done" })).toEqual({ after: "POP3 cannot move messages; use delete or none" });
    expect(problems({ ...base, after: "move" })).toEqual({ moveTo: "is required when after is move" });
    expect(problems({ ...base, protocol: "imaps", security: "starttls" })).toHaveProperty("security");
    expect(problems({ ...base, protocol: "pop3", folder: "Archive" })).toHaveProperty("folder");
    expect(problems({ ...base, protocol: "pop3", markSeen: true })).toHaveProperty("markSeen");
    expect(problems({ ...base, tlsCa: "not a certificate" })).toEqual({ tlsCa: "must be PEM text holding a CERTIFICATE" });
  });

  it("validates an update as a whole and re-derives the port when the protocol changes", () => {
    const current = parseAccountSettings(base);
    expect(updateAccountSettings(current, { protocol: "imaps" })).toMatchObject({ port: 993, security: "tls" });
    expect(() => updateAccountSettings(current, { after: "move" })).toThrow(/moveTo: is required/);
  });
});
