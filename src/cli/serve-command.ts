import type { Command } from "commander";
import { sql } from "kysely";
import { createInbound } from "../inbound.js";
import { createLogger } from "../core/logger.js";
import { InboundError } from "../core/inbound-error.js";
import { startHealthServer } from "../server/health-server.js";
import type { CliIo } from "./cli-output.js";

/**
 * `inbound serve`: open the store (SQLite under the data dir unless
 * DATABASE_URL says PostgreSQL), finish parsing anything an earlier run left
 * pending, and listen for HTTP until SIGINT/SIGTERM.
 */
export function serveCommand(program: Command, ctx: { io: CliIo; dataDir: () => string; onExit: (code: number) => void }): void {
  program
    .command("serve")
    .description("run the service (HTTP health endpoints; API, watcher and scheduler come with later releases)")
    .option("--host <host>", "address to listen on (also INBOUND_HOST; default 127.0.0.1)")
    .option("--port <port>", "port to listen on (also INBOUND_PORT; default 8025)")
    .action(async (flags: { host?: string; port?: string }) => {
      const { io } = ctx;
      const log = createLogger({ level: io.env.INBOUND_LOG_LEVEL ?? "info", destination: io.stderr });
      const host = flags.host ?? io.env.INBOUND_HOST ?? "127.0.0.1";
      const portText = flags.port ?? io.env.INBOUND_PORT ?? "8025";
      if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
        throw new InboundError("CONFIG_INVALID", { message: `port: must be a number from 0 to 65535, got "${portText}"`, details: { fields: [{ field: "port", message: "must be a number from 0 to 65535" }] } });
      }
      const dataDir = ctx.dataDir();
      const inbound = await createInbound({ dataDir, databaseUrl: io.env.DATABASE_URL || undefined, env: io.env, logger: log });
      const server = await startHealthServer({
        host,
        port: Number(portText),
        ready: async () => {
          await sql`select 1`.execute(inbound.store.database.db);
          return true;
        },
      });
      const where = io.env.DATABASE_URL ? "PostgreSQL (DATABASE_URL)" : `SQLite in ${dataDir}`;
      io.stdout.write(`inbound listening on ${server.url} (health: ${server.url}/healthz), storing in ${where}, blobs in ${inbound.store.blobs.dir}\n`);
      const pending = inbound.processPending().catch((error: unknown) => log.error({ err: error }, "processing pending messages failed"));
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, "shutting down");
          resolve();
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
      await server.close();
      await pending;
      await inbound.close();
      ctx.onExit(0);
    });
}
