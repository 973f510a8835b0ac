import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** Options for {@link startHealthServer}. */
export interface HealthServerOptions {
  host: string;
  port: number;
  /** Whether the service can take work (database reachable). */
  ready: () => Promise<boolean>;
}

/** A running HTTP listener; `close()` stops it. */
export interface HealthServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The HTTP side of `inbound serve` for now: `/healthz` (the process lives)
 * and `/readyz` (the store answers). The REST API and admin page mount here
 * in their own issue.
 *
 * @example
 * ```ts
 * const server = await startHealthServer({ host: "127.0.0.1", port: 8025, ready: async () => true });
 * console.log(server.url);
 * ```
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, { code: "METHOD_NOT_ALLOWED", message: "Use GET." });
    if (path === "/healthz") return send(200, { status: "ok" });
    if (path === "/readyz") {
      options.ready().then(
        (ok) => send(ok ? 200 : 503, { status: ok ? "ready" : "not ready" }),
        () => send(503, { status: "not ready" }),
      );
      return;
    }
    send(404, { code: "NOT_FOUND", message: `No route ${path}; try /healthz or /readyz.` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
