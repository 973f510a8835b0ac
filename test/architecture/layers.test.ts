import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(new URL("../../src", import.meta.url).pathname);

/** DESIGN.md's layers, lowest first. A file may import its own layer and those below it. */
const LAYERS = ["core", "auth", "store", "protocols", "mime", "retrieval", "watch", "delivery", "facade", "server", "cli", "bin"] as const;

function layerOf(file: string): (typeof LAYERS)[number] | "library" {
  const rel = relative(SRC, file);
  const top = rel.split("/")[0];
  if (rel === "index.ts") return "library";
  if (rel === "inbound.ts") return "facade";
  if ((LAYERS as readonly string[]).includes(top)) return top as (typeof LAYERS)[number];
  throw new Error(`${rel} is in no layer of DESIGN.md; put it in one`);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts)$/.test(name) ? [path] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const specs = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] ?? m[2]);
  return specs.filter((s) => s.startsWith(".")).map((s) => resolve(dirname(file), s).replace(/\.js$/, ".ts"));
}

describe("layering (DESIGN.md)", () => {
  it("every import points to the same layer or one below it", () => {
    const violations: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const from = layerOf(file);
      for (const target of relativeImports(file)) {
        if (!target.startsWith(SRC)) continue;
        const to = layerOf(target);
        if (from === "library") {
          if (to === "server" || to === "cli" || to === "bin") violations.push(`${relative(SRC, file)} (the library) imports ${relative(SRC, target)}`);
          continue;
        }
        if (to === "library" || LAYERS.indexOf(to) > LAYERS.indexOf(from)) violations.push(`${relative(SRC, file)} (${from}) imports ${relative(SRC, target)} (${to})`);
      }
    }
    expect(violations).toEqual([]);
  });

  it("the library starts nothing on import", async () => {
    const handlesBefore = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    await import("../../src/index.js");
    const handlesAfter = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    expect(handlesAfter).toBe(handlesBefore);
  });
});
