import type { Command } from "commander";
import { InboundError } from "../core/inbound-error.js";
import type { DeliveryService } from "../delivery/delivery-service.js";
import type { Inbound } from "../inbound.js";
import type { Store } from "../store/store.js";
import type { WebhookRecord } from "../store/webhook-repository.js";
import { emit, table, type CliIo } from "./cli-output.js";
import { limitFlag } from "./limit-flag.js";
import { readStdin } from "./account-flags.js";

/** What the delivery commands need from `runCli`: its io, `--json`, the data dir and `withInbound`. */
export interface DeliveryCommandContext {
  io: CliIo;
  json(): boolean;
  dataDir(): string;
  withInbound<T>(work: (inbound: Pick<Inbound, "store" | "delivery">) => Promise<T>): Promise<T>;
}

const list = (value: string) => value.split(",").map((s) => s.trim()).filter(Boolean);

/** The signing secret from `--secret` or `--secret-stdin` (not both), or undefined. */
async function secretFlag(flags: { secret?: string; secretStdin?: boolean }, stdin: NodeJS.ReadableStream): Promise<string | undefined> {
  if (flags.secret !== undefined && flags.secretStdin) {
    throw new InboundError("WEBHOOK_INVALID", { message: "secret: give --secret or --secret-stdin, not both", details: { fields: [{ field: "secret", message: "give --secret or --secret-stdin, not both" }] } });
  }
  return flags.secretStdin ? readStdin(stdin) : flags.secret;
}

function describeWebhook(w: WebhookRecord): string {
  const state = w.enabled ? "enabled" : `disabled${w.disabledReason ? ` (${w.disabledReason})` : ""}`;
  return `${w.id}  ${w.url}\n  events: ${w.events.join(", ")}\n  state:  ${state}${w.description ? `\n  note:   ${w.description}` : ""}`;
}

/**
 * Add `inbound webhooks add|list|update|remove|test` and
 * `inbound deliveries list|replay` to the program.
 *
 * @example
 * ```ts
 * registerDeliveryCommands(program, { io, json, dataDir, withInbound });
 * ```
 */
export function registerDeliveryCommands(program: Command, ctx: DeliveryCommandContext): void {
  const { io } = ctx;
  // The facade's delivery service (its webhook secrets sealed with the same key ring); nothing is started.
  const withDelivery = <T>(work: (delivery: DeliveryService, store: Store) => Promise<T>): Promise<T> =>
    ctx.withInbound((inbound) => work(inbound.delivery, inbound.store));

  const webhooks = program.command("webhooks").description("HTTP targets that receive signed events");
  webhooks
    .command("add")
    .description("add a webhook target; prints its signing secret once")
    .requiredOption("--url <url>", "http:// or https:// endpoint")
    .option("--events <types>", "comma-separated event types, or * (default *)")
    .option("--secret <secret>", "signing secret (16+ characters; generated when absent; visible in `ps`, prefer --secret-stdin)")
    .option("--secret-stdin", "read the signing secret from standard input")
    .option("--description <text>", "a note for people")
    .option("--disabled", "add it switched off")
    .action(async (flags: { url: string; events?: string; secret?: string; secretStdin?: boolean; description?: string; disabled?: boolean }) => {
      const secret = await secretFlag(flags, io.stdin);
      const hook = await withDelivery((d) =>
        d.addWebhook({ url: flags.url, events: flags.events ? list(flags.events) : undefined, secret, description: flags.description, enabled: flags.disabled ? false : undefined }),
      );
      emit(io, ctx.json(), hook, () => `Added webhook ${hook.id} → ${hook.url} (${hook.events.join(", ")}).\nSigning secret (shown only now; keep it with the receiver):\n  ${hook.secret}`);
    });
  webhooks.command("list").description("list webhook targets (never their secrets)").action(async () => {
    const hooks = await withDelivery((d) => d.listWebhooks());
    emit(io, ctx.json(), hooks, () =>
      hooks.length === 0
        ? "No webhooks yet. Add one with: inbound webhooks add --url https://app.example.com/hooks/inbound"
        : table(["ID", "URL", "EVENTS", "STATE"], hooks.map((w) => [w.id, w.url, w.events.join(","), w.enabled ? "enabled" : `disabled${w.disabledReason ? `: ${w.disabledReason.slice(0, 40)}` : ""}`])),
    );
  });
  webhooks
    .command("update <id>")
    .description("change a webhook target; --enable also clears an automatic disable (410 Gone)")
    .option("--url <url>", "new endpoint")
    .option("--events <types>", "comma-separated event types, or *")
    .option("--secret <secret>", "new signing secret (visible in `ps`, prefer --secret-stdin)")
    .option("--secret-stdin", "read the new signing secret from standard input")
    .option("--description <text>", "a note for people")
    .option("--enable", "switch it on")
    .option("--disable", "switch it off")
    .action(async (id: string, flags: { url?: string; events?: string; secret?: string; secretStdin?: boolean; description?: string; enable?: boolean; disable?: boolean }) => {
      if (flags.enable && flags.disable) throw new InboundError("WEBHOOK_INVALID", { message: "enabled: give --enable or --disable, not both", details: { fields: [{ field: "enabled", message: "give --enable or --disable, not both" }] } });
      const secret = await secretFlag(flags, io.stdin);
      const hook = await withDelivery((d) =>
        d.updateWebhook(id, {
          ...(flags.url !== undefined ? { url: flags.url } : {}),
          ...(flags.events !== undefined ? { events: list(flags.events) } : {}),
          ...(secret !== undefined ? { secret } : {}),
          ...(flags.description !== undefined ? { description: flags.description } : {}),
          ...(flags.enable ? { enabled: true } : flags.disable ? { enabled: false } : {}),
        }),
      );
      emit(io, ctx.json(), hook, () => `Updated webhook.\n${describeWebhook(hook)}`);
    });
  webhooks.command("remove <id>").description("remove a webhook target and drop its queued deliveries").action(async (id: string) => {
    await withDelivery((d) => d.removeWebhook(id));
    emit(io, ctx.json(), { removed: id }, () => `Removed webhook ${id}.`);
  });
  webhooks.command("test <id>").description("POST a signed webhook.test event now and show the answer").action(async (id: string) => {
    const result = await withDelivery((d) => d.testWebhook(id));
    if (!result.ok) {
      throw new InboundError("WEBHOOK_FAILED", { message: `The target did not accept the test event: ${result.error}`, retryable: true, details: { ...result } });
    }
    emit(io, ctx.json(), result, () => `OK: the target answered ${result.status} in ${result.durationMs} ms (event ${result.eventId}).`);
  });

  const deliveries = program.command("deliveries").description("events owed to handlers and webhooks");
  deliveries
    .command("list")
    .description("list deliveries, newest first")
    .option("--failed", "only failing (retrying) and parked ones")
    .option("--account <name>", "only this account's events")
    .option("--limit <n>", "how many (default 50)")
    .option("--cursor <cursor>", "next page")
    .action(async (flags: { failed?: boolean; account?: string; limit?: string; cursor?: string }) => {
      const limit = limitFlag(flags.limit);
      const page = await withDelivery(async (d, store) => {
        const accountId = flags.account ? (await store.accounts.get(flags.account)).id : undefined;
        return d.listDeliveries({ failed: flags.failed, accountId, limit, cursor: flags.cursor });
      });
      emit(io, ctx.json(), page, () =>
        page.items.length === 0
          ? flags.failed ? "No failed deliveries." : "No deliveries."
          : table(
              ["ID", "EVENT", "TYPE", "CONSUMER", "STATUS", "ATTEMPTS", "NEXT / DONE", "LAST ERROR"],
              page.items.map((x) => [x.id, x.eventId, x.eventType, x.consumer, x.status, String(x.attempts), (x.completedAt ?? x.nextAttemptAt).slice(0, 19), (x.lastError ?? "").slice(0, 60)]),
            ) + (page.nextCursor ? `\nmore: --cursor ${page.nextCursor}` : ""),
      );
    });
  deliveries.command("replay <id>").description("deliver again: the delivery becomes pending with fresh attempts").action(async (id: string) => {
    const record = await withDelivery((d) => d.replay(id));
    emit(io, ctx.json(), record, () => `Delivery ${record.id} (event ${record.eventId}) is pending again; a running \`inbound serve\` delivers it shortly.`);
  });
}
