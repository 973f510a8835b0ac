import { isIPv6 } from "node:net";

/** Options for {@link createLoginRateLimiter}. */
export interface LoginRateLimiterOptions {
  /** Sign-ins allowed per username and client address in the window (failed or still being checked); default 5. */
  maxFailures?: number;
  /** Sign-ins allowed per client address across all usernames in the window (failed or still being checked); default 20. */
  maxFailuresPerAddress?: number;
  /** Default 15 minutes. */
  windowMs?: number;
  now?: () => number;
}

/** One sign-in that was let through: it counts as a failure unless told otherwise. */
export interface LoginAttempt {
  /** The password was right: forget this username's failures at this address and give the address its slot back. */
  succeeded(): void;
  /** The password was never checked (the server was busy, the database failed): give both slots back. */
  cancelled(): void;
}

/** What {@link LoginRateLimiter.begin} decided. */
export type LoginAttemptVerdict = { blocked: true; retryAfterSeconds: number } | { blocked: false; attempt: LoginAttempt };

/** Sign-in attempts per (username, client address) and per client address, in memory. */
export interface LoginRateLimiter {
  /**
   * Count a sign-in before its password is checked, so attempts still in
   * flight use up the allowance too: N parallel guesses are N attempts, not
   * zero. A failure needs no further call; see {@link LoginAttempt}.
   */
  begin(who: { username: string; address: string }): LoginAttemptVerdict;
}

interface Window {
  first: number;
  count: number;
}

/** Fixed windows of counts per key; a window begins with its first count. */
function createWindows(max: number, windowMs: number, now: () => number) {
  const entries = new Map<string, Window>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry !== undefined && now() - entry.first >= windowMs) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  return {
    /** Seconds until `key` may try again; 0 when it may now. */
    wait(key: string): number {
      const entry = live(key);
      if (entry === undefined || entry.count < max) return 0;
      return Math.max(1, Math.ceil((entry.first + windowMs - now()) / 1000));
    },
    add(key: string): Window {
      // Bounded memory under a spray of usernames or addresses: drop expired windows once the map grows.
      if (entries.size >= 10_000) for (const k of [...entries.keys()]) live(k);
      const entry = live(key);
      if (entry !== undefined) {
        entry.count++;
        return entry;
      }
      const fresh = { first: now(), count: 1 };
      entries.set(key, fresh);
      return fresh;
    },
    /** Take one count back from the window it was added to (not from a later one). */
    remove(key: string, window: Window): void {
      if (entries.get(key) !== window) return;
      window.count--;
      if (window.count <= 0) entries.delete(key);
    },
    clear(key: string, window: Window): void {
      if (entries.get(key) === window) entries.delete(key);
    },
  };
}

/**
 * The key a client address is limited under: an IPv4 address as is (also
 * when IPv4-mapped), an IPv6 address by its /64, because one client
 * usually holds a whole /64 and could otherwise change address per guess.
 *
 * @example
 * ```ts
 * clientAddressKey("2001:db8:1:2:aaaa::1"); // "2001:db8:1:2::/64"
 * clientAddressKey("::ffff:192.0.2.7");     // "192.0.2.7"
 * ```
 */
export function clientAddressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped !== null) return mapped[1];
  const bare = address.split("%")[0];
  if (!isIPv6(bare)) return address;
  const [head, tail] = bare.split("::");
  const groups = (part: string | undefined) => (part === undefined || part === "" ? [] : part.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g])));
  const left = groups(head);
  const right = groups(tail);
  const full = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return `${full.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`;
}

/**
 * Fixed-window limits on sign-ins: per username at one address (default 5
 * in 15 minutes) and per address across all usernames (default 20), so
 * neither guessing one password nor spraying one password over many
 * usernames gets far. An attempt counts from the moment it is let through,
 * before the slow password check, and only a success gives its slot back.
 * Per process: a cluster of N processes allows N times as many guesses,
 * which is still slow against scrypt hashes.
 *
 * @example
 * ```ts
 * const limiter = createLoginRateLimiter();
 * const verdict = limiter.begin({ username, address: request.ip });
 * if (verdict.blocked) reply.header("retry-after", String(verdict.retryAfterSeconds));
 * else if (await passwordIsRight()) verdict.attempt.succeeded();
 * ```
 */
export function createLoginRateLimiter(options: LoginRateLimiterOptions = {}): LoginRateLimiter {
  const windowMs = options.windowMs ?? 15 * 60_000;
  const now = options.now ?? Date.now;
  const perUser = createWindows(options.maxFailures ?? 5, windowMs, now);
  const perAddress = createWindows(options.maxFailuresPerAddress ?? 20, windowMs, now);

  return {
    begin({ username, address }) {
      const addressKey = clientAddressKey(address);
      const userKey = `${username.normalize("NFC").toLowerCase()}|${addressKey}`;
      const wait = Math.max(perUser.wait(userKey), perAddress.wait(addressKey));
      if (wait > 0) return { blocked: true, retryAfterSeconds: wait };
      const userWindow = perUser.add(userKey);
      const addressWindow = perAddress.add(addressKey);
      let settled = false;
      return {
        blocked: false,
        attempt: {
          succeeded() {
            if (settled) return;
            settled = true;
            perUser.clear(userKey, userWindow);
            perAddress.remove(addressKey, addressWindow);
          },
          cancelled() {
            if (settled) return;
            settled = true;
            perUser.remove(userKey, userWindow);
            perAddress.remove(addressKey, addressWindow);
          },
        },
      };
    },
  };
}
