import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

/**
 * The admin page: plain TypeScript modules bundled into `dist/web`, which
 * `inbound serve` serves at `/` under a strict CSP (no inline script or style,
 * so nothing here may emit any).
 */
export default defineConfig({
  root,
  base: "/",
  publicDir: false,
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // The polyfill would be an inline-free module, but nothing needs it: every supported browser preloads modules.
    modulePreload: { polyfill: false },
    // data: URLs are allowed for images only; keep every asset a file.
    assetsInlineLimit: 0,
    sourcemap: true,
  },
  server: { proxy: { "/api": "http://127.0.0.1:8025" } },
});
