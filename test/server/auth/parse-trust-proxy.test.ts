import { describe, expect, it } from "vitest";
import { InboundError } from "../../../src/core/inbound-error.js";
import { parseTrustProxy } from "../../../src/server/auth/parse-trust-proxy.js";

describe("parseTrustProxy", () => {
  it("reads false, true, and lists of addresses, CIDR ranges and proxy-addr's names", () => {
    expect(parseTrustProxy(undefined)).toBe(false);
    expect(parseTrustProxy("")).toBe(false);
    expect(parseTrustProxy("false")).toBe(false);
    expect(parseTrustProxy("TRUE")).toBe(true);
    expect(parseTrustProxy("127.0.0.1")).toEqual(["127.0.0.1"]);
    expect(parseTrustProxy(" 10.0.0.0/8, ::1 ,fd00::/8,loopback,uniquelocal")).toEqual(["10.0.0.0/8", "::1", "fd00::/8", "loopback", "uniquelocal"]);
  });

  it("refuses anything else with CONFIG_INVALID naming the setting and saying what is accepted", () => {
    for (const [value, field] of [["proxy.local", "--trust-proxy"], ["10.0.0.0/33", "INBOUND_TRUST_PROXY"], ["1", "INBOUND_TRUST_PROXY"], [",", "INBOUND_TRUST_PROXY"]] as const) {
      let error: unknown;
      try {
        parseTrustProxy(value, field);
      } catch (e) {
        error = e;
      }
      expect(error, value).toBeInstanceOf(InboundError);
      const { code, message, details } = error as InboundError;
      expect(code).toBe("CONFIG_INVALID");
      expect(message).toMatch(new RegExp(`^${field.replace(/-/g, "\\-")}: must`));
      expect(message).toMatch(/127\.0\.0\.1/);
      expect(details).toEqual({ fields: [{ field, message: expect.any(String) }] });
    }
  });
});
