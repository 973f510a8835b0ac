import { describe, expect, it } from "vitest";
import { UID_SET_MAX_LENGTH, uidSet, uidSets } from "../../../src/protocols/imap/uid-set.js";

/** The UIDs a sequence set names. */
function expand(set: string): number[] {
  return set.split(",").flatMap((part) => {
    const [from, to = from] = part.split(":").map(Number);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

describe("UID sets", () => {
  it("compresses UID lists into sequence sets", () => {
    expect(uidSet([5, 1, 2, 3, 9, 10, 7])).toBe("1:3,5,7,9:10");
    expect(uidSets([5, 1, 2, 3, 9, 10, 7])).toEqual(["1:3,5,7,9:10"]);
    expect(uidSets([4, 4, 5, 2])).toEqual(["2,4:5"]);
    expect(uidSets([])).toEqual([]);
  });

  it("cuts a long list into sets a command line can hold, naming every UID once", () => {
    // Every other UID of a large folder: ~8 characters a UID, far over Dovecot's 64 KB line limit in one set.
    const uids = Array.from({ length: 20_000 }, (_, i) => 1_000_001 + 2 * i);
    expect(uidSet(uids).length).toBeGreaterThan(64 * 1024);
    const sets = uidSets(uids);
    expect(sets.length).toBeGreaterThan(1);
    for (const set of sets) expect(set.length).toBeLessThanOrEqual(UID_SET_MAX_LENGTH);
    expect(sets.flatMap(expand)).toEqual(uids);

    const mixed = [1, 2, 3, 10, 12, 13, 14, 20];
    expect(uidSets(mixed, 5)).toEqual(["1:3", "10", "12:14", "20"]);
    expect(uidSets(mixed, 6)).toEqual(["1:3,10", "12:14", "20"]);
    expect(uidSets(mixed, 9)).toEqual(["1:3,10", "12:14,20"]);
    // A range is never split, even when it alone is longer than the limit.
    expect(uidSets([100, 101, 102], 3)).toEqual(["100:102"]);
  });
});
