import type { Command } from "commander";
import { ERROR_CODES, type ErrorCode } from "../core/error-codes.js";
import { InboundError } from "../core/inbound-error.js";
import { createLogger } from "../core/logger.js";
import type { Inbound } from "../inbound.js";
import type { Address } from "../store/message-repository.js";
import type { WatchState } from "../watch/watch-state.js";
import { emit, type CliIo } from "./cli-output.js";

/** What the watch commands need from the program that registers them. */
export interface WatchCommandContext {
  io: CliIo;
  dataDir: () => string;
  /** True when `--json` was given. */
  json: () => boolean;
  /** Open Inbound for the command and close it afterwards (program.ts's `withInbound`). */
  withInbound: <T>(work: (inbound: Inbound) => Promise<T>) => Promise<T>;
  /** Ends `inbound watch` like Ctrl-C does (tests); SIGINT and SIGTERM always do. */
  signal?: AbortSignal;
}

/** One line per message `inbound watch` prints. */
interface WatchedMessage {
  id: string;
  account: string;
  subject: string | null;
  from: Address[] | null;
  storedAt: string;
}

function fromText(from: Address[] | null): string {
  const first = from?.[0];
  if (!first) return "(no sender)";
  return first.name ? `${first.name} <${first.address}>` : first.address;
}

function stateLine(name: string, state: WatchState): string {
  const next = state.nextAttemptAt ? ` (next attempt ${state.nextAttemptAt})` : "";
  return `${name}: ${state.state.replace("_", " ")}${state.detail ? ` — ${state.detail}` : ""}${next}\n`;
}

/**
 * Register `inbound subscribe NAME`, `inbound unsubscribe NAME` and
 * `inbound watch NAME`.
 *
 * `subscribe`/`unsubscribe` only change the persisted subscription: a
 * running `inbound serve` re-reads subscriptions every few seconds and
 * starts or stops the watch, and every `inbound serve` start resumes them
 * all. `watch` runs one watch in the foreground (without subscribing),
 * prints each message as it is stored (`--json`: one JSON line each) and
 * state changes on stderr, until Ctrl-C.
 *
 * @example
 * ```ts
 * registerWatchCommands(program, { io, dataDir, json: () => Boolean(program.opts().json), withInbound });
 * ```
 */
export function registerWatchCommands(program: Command, ctx: WatchCommandContext): void {
  const { io } = ctx;

  program
    .command("subscribe <name>")
    .description("watch an account's mailbox (IMAP IDLE, or polling without IDLE); `inbound serve` picks it up within seconds and on every start")
    .action(async (name: string) => {
      const result = await ctx.withInbound(async (inbound) => {
        const account = await inbound.getAccount(name);
        const { created } = await inbound.store.subscriptions.subscribe(account.id);
        return { account: account.name, accountId: account.id, subscribed: true, created };
      });
      emit(io, ctx.json(), result, () =>
        result.created
          ? `Subscribed ${result.account}. A running \`inbound serve\` starts watching it within a few seconds, and resumes it on every start.`
          : `${result.account} was already subscribed; a watch that had failed is started again by a running \`inbound serve\`.`,
      );
    });

  program
    .command("unsubscribe <name>")
    .description("stop watching an account's mailbox (a no-op when it is not subscribed)")
    .action(async (name: string) => {
      const result = await ctx.withInbound(async (inbound) => {
        const account = await inbound.getAccount(name);
        const { removed } = await inbound.store.subscriptions.unsubscribe(account.id);
        return { account: account.name, accountId: account.id, subscribed: false, removed };
      });
      emit(io, ctx.json(), result, () =>
        result.removed ? `Unsubscribed ${result.account}. A running \`inbound serve\` stops watching it within a few seconds.` : `${result.account} was not subscribed; nothing changed.`,
      );
    });

  program
    .command("watch <name>")
    .description("watch one account in the foreground and print each message as it is stored (Ctrl-C stops)")
    .action(async (name: string) => {
      const json = ctx.json();
      await ctx.withInbound(async (inbound) => {
        const account = await inbound.getAccount(name);
        const logger = createLogger({ level: io.env.INBOUND_LOG_LEVEL ?? "warn", destination: io.stderr });
        const manager = inbound.watches;
        const newestFirst = async () => (await inbound.listMessages({ accountId: account.id, limit: 100 })).items;
        let lastId = (await newestFirst())[0]?.id ?? "";
        let printing: Promise<void> = Promise.resolve();
        const printNew = async () => {
          // Ids are UUIDv7: everything above the last printed id was stored since.
          const fresh = (await newestFirst()).filter((m) => m.id > lastId).reverse();
          for (const m of fresh) {
            const message: WatchedMessage = { id: m.id, account: account.name, subject: m.subject, from: m.from, storedAt: m.storedAt };
            io.stdout.write(json ? `${JSON.stringify(message)}\n` : `${message.storedAt}  ${fromText(message.from)}  ${message.subject ?? "(no subject)"}  [${message.id}]\n`);
            lastId = m.id;
          }
        };

        let failure: WatchState | undefined;
        let finish!: () => void;
        const finished = new Promise<void>((resolve) => {
          finish = resolve;
        });
        manager.onRetrieval((event) => {
          if (event.summary.stored === 0) return;
          printing = printing.then(printNew).catch((error: unknown) => logger.warn({ err: error }, "could not list new messages"));
        });
        manager.onStateChange((state) => {
          io.stderr.write(stateLine(account.name, state));
          if (state.state === "failed") {
            failure = state;
            finish();
          }
        });
        const onSignal = () => finish();
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        ctx.signal?.addEventListener("abort", onSignal, { once: true });
        try {
          if (!ctx.signal?.aborted) {
            await manager.watch(account.id);
            await finished;
          }
        } finally {
          process.removeListener("SIGINT", onSignal);
          process.removeListener("SIGTERM", onSignal);
          ctx.signal?.removeEventListener("abort", onSignal);
          await manager.close();
          await printing;
        }
        if (failure) {
          const code: ErrorCode = failure.errorCode !== null && failure.errorCode in ERROR_CODES ? (failure.errorCode as ErrorCode) : "CONNECTION_FAILED";
          throw new InboundError(code, {
            message: `The watch of ${account.name} failed: ${failure.detail ?? "unknown reason"}`,
            details: { state: failure.state, accountId: account.id },
          });
        }
      });
    });
}
