import type { Command } from "commander";
import { createLogger } from "../core/logger.js";
import { InboundError } from "../core/inbound-error.js";
import type { CliIo } from "./cli-output.js";

/** How long SIGTERM waits for work in hand before the process exits anyway. */
const DRAIN_LIMIT_MS = 25_000;

/**
 * `inbound serve`: the whole service in one process (see
 * {@link startInboundService}). SIGTERM/SIGINT drain: stop taking new work,
 * finish the message and delivery in hand, close sessions, exit 0 — or
 * exit 1 if that takes longer than {@link DRAIN_LIMIT_MS}.
 */
export function serveCommand(program: Command, ctx: { io: CliIo; dataDir: () => string; onExit: (code: number) => void }): void {
  program
    .command("serve")
    .description("run the service: REST API and admin page, IMAP IDLE watches, poll schedules, webhook and handler delivery")
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
      // The HTTP server (fastify, the admin page) is loaded only by the command that runs it.
      const { startInboundService } = await import("./inbound-service.js");
      const service = await startInboundService({ dataDir, databaseUrl: io.env.DATABASE_URL || undefined, env: io.env, host, port: Number(portText), logger: log });
      const where = io.env.DATABASE_URL ? "PostgreSQL (DATABASE_URL)" : `SQLite in ${dataDir}`;
      io.stdout.write(`inbound listening on ${service.url} (admin page ${service.url}/, API ${service.url}/api/docs, health ${service.url}/healthz), storing in ${where}\n`);
      if (service.adminPassword) {
        io.stdout.write(`Created user "admin" with password ${service.adminPassword} — shown this once; sign in at ${service.url}/ and change it.\n`);
      }
      const signal = await new Promise<string>((resolve) => {
        process.once("SIGINT", () => resolve("SIGINT"));
        process.once("SIGTERM", () => resolve("SIGTERM"));
      });
      log.info({ signal }, "draining: no new work; finishing what is in hand");
      const timer = setTimeout(() => {
        log.error({ limitMs: DRAIN_LIMIT_MS }, "drain took too long; exiting");
        process.exit(1);
      }, DRAIN_LIMIT_MS);
      timer.unref();
      await service.close();
      clearTimeout(timer);
      log.info("stopped");
      ctx.onExit(0);
    });
}
