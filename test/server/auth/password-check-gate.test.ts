import { describe, expect, it } from "vitest";
import { ApiError } from "../../../src/server/api-error.js";
import { createPasswordCheckGate } from "../../../src/server/auth/password-check-gate.js";

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("password check gate", () => {
  it("runs at most `concurrency` checks at once and the rest in order as slots free", async () => {
    const gate = createPasswordCheckGate({ concurrency: 2, maxWaiting: 10 });
    let running = 0;
    let most = 0;
    const order: number[] = [];
    const check = (i: number) => async () => {
      running++;
      most = Math.max(most, running);
      await tick();
      running--;
      order.push(i);
      return i;
    };
    const results = await Promise.all([0, 1, 2, 3, 4, 5, 6].map((i) => gate.run(check(i))));
    expect(results).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(most).toBe(2);
    expect(order.slice(2)).toEqual([2, 3, 4, 5, 6]);
    expect(gate.running).toBe(0);
    expect(gate.waiting).toBe(0);
  });

  it("refuses with a retryable RATE_LIMITED beyond the waiting room, without running the check", async () => {
    const gate = createPasswordCheckGate({ concurrency: 1, maxWaiting: 1 });
    let ran = 0;
    const slow = () =>
      gate.run(async () => {
        ran++;
        await tick();
      });
    const first = slow();
    const second = slow();
    const error = await slow().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: "RATE_LIMITED", headers: { "retry-after": "1" } });
    await Promise.all([first, second]);
    expect(ran).toBe(2);
  });

  it("frees the slot when a check throws", async () => {
    const gate = createPasswordCheckGate({ concurrency: 1, maxWaiting: 0 });
    await expect(gate.run(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run(async () => "next")).toBe("next");
  });
});
