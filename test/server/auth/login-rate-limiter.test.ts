import { describe, expect, it } from "vitest";
import { clientAddressKey, createLoginRateLimiter } from "../../../src/server/auth/login-rate-limiter.js";

function limiterAt(start = 0, options: { maxFailures?: number; maxFailuresPerAddress?: number } = {}) {
  const clock = { now: start };
  const limiter = createLoginRateLimiter({ maxFailures: 3, maxFailuresPerAddress: 5, windowMs: 60_000, now: () => clock.now, ...options });
  return { limiter, clock };
}

describe("login rate limiter", () => {
  it("counts an attempt when it begins, so attempts still being checked use up the allowance", () => {
    const { limiter } = limiterAt();
    const inFlight = [1, 2, 3].map(() => limiter.begin({ username: "alice", address: "192.0.2.1" }));
    expect(inFlight.every((v) => !v.blocked)).toBe(true);
    const fourth = limiter.begin({ username: "alice", address: "192.0.2.1" });
    expect(fourth).toEqual({ blocked: true, retryAfterSeconds: 60 });
  });

  it("a success forgets the username's failures at that address; a cancelled attempt gives its slot back", () => {
    const { limiter } = limiterAt();
    const begin = () => limiter.begin({ username: "Alice", address: "192.0.2.1" });
    begin();
    begin();
    const third = begin();
    if (third.blocked) throw new Error("blocked too early");
    third.attempt.cancelled();
    const again = begin();
    if (again.blocked) throw new Error("a cancelled attempt was counted");
    again.attempt.succeeded();
    // Case does not make a new username.
    expect([1, 2, 3].map(() => limiter.begin({ username: "alice", address: "192.0.2.1" }).blocked)).toEqual([false, false, false]);
  });

  it("limits one address across usernames, and a success there does not wipe the address's failures", () => {
    const { limiter } = limiterAt();
    for (let i = 0; i < 4; i++) expect(limiter.begin({ username: `user${i}`, address: "192.0.2.7" }).blocked).toBe(false);
    const right = limiter.begin({ username: "alice", address: "192.0.2.7" });
    if (right.blocked) throw new Error("blocked too early");
    right.attempt.succeeded();
    expect(limiter.begin({ username: "user9", address: "192.0.2.7" }).blocked).toBe(false);
    expect(limiter.begin({ username: "user10", address: "192.0.2.7" }).blocked).toBe(true);
    expect(limiter.begin({ username: "user10", address: "192.0.2.8" }).blocked).toBe(false);
  });

  it("opens again when the window ends", () => {
    const { limiter, clock } = limiterAt(1_000);
    for (let i = 0; i < 3; i++) limiter.begin({ username: "alice", address: "192.0.2.1" });
    clock.now += 30_000;
    expect(limiter.begin({ username: "alice", address: "192.0.2.1" })).toEqual({ blocked: true, retryAfterSeconds: 30 });
    clock.now += 30_000;
    expect(limiter.begin({ username: "alice", address: "192.0.2.1" }).blocked).toBe(false);
  });

  it("counts an IPv6 client by its /64 and an IPv4-mapped address as IPv4", () => {
    expect(clientAddressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff")).toBe("2001:db8:1:2::/64");
    expect(clientAddressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(clientAddressKey("::1")).toBe("0:0:0:0::/64");
    expect(clientAddressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(clientAddressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(clientAddressKey("192.0.2.7")).toBe("192.0.2.7");
    const { limiter } = limiterAt();
    for (let i = 0; i < 5; i++) limiter.begin({ username: `user${i}`, address: `2001:db8:1:2::${i + 1}` });
    expect(limiter.begin({ username: "other", address: "2001:db8:1:2:ffff::9" }).blocked).toBe(true);
  });
});
