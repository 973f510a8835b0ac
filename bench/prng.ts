/**
 * A small seeded PRNG (mulberry32), so the benchmark corpus is the same
 * bytes on every run and every machine.
 *
 * @example
 * ```ts
 * const rng = createPrng(42);
 * rng.int(10, 20); // same number every run
 * ```
 */
export interface Prng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** Log-uniform integer in [min, max]: as many small values as large ones per decade. */
  logInt(min: number, max: number): number;
  /** Fill `target` with pseudo-random bytes. */
  fill(target: Uint8Array): void;
}

export function createPrng(seed: number): Prng {
  let state = seed >>> 0;
  const nextU32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const next = () => nextU32() / 4294967296;
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
    logInt: (min, max) => Math.round(Math.exp(Math.log(min) + next() * (Math.log(max) - Math.log(min)))),
    fill(target) {
      // Word-wise when aligned (fast); pooled Buffers may start mid-word.
      const words = target.byteOffset % 4 === 0 ? Math.floor(target.byteLength / 4) : 0;
      const view = new Uint32Array(target.buffer, target.byteOffset, words);
      for (let i = 0; i < words; i++) view[i] = nextU32();
      for (let i = words * 4; i < target.byteLength; i++) target[i] = nextU32() & 0xff;
    },
  };
}
