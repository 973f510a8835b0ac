// Development-only entry for the parse worker when Inbound runs from its
// TypeScript sources (vitest, tsx). On Node 20 a worker's `--import tsx`
// execArgv does not apply to the worker's own entry module, so register tsx
// here first and then load the real worker. The built package never uses
// this file: it loads dist/mime/parse-worker.js directly.
import { register } from "tsx/esm/api";

register();
await import("./parse-worker.ts");
