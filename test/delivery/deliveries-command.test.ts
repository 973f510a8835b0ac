import { createHmac } from "node:crypto";
import { Readable } from "node:stream";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadKeyRing } from "../../src/auth/key-ring.js";
import { createSecretBox } from "../../src/auth/secret-box.js";
import { reportError } from "../../src/cli/cli-output.js";
import { registerDeliveryCommands } from "../../src/cli/deliveries-command.js";
import { createDeliveryService } from "../../src/delivery/delivery-service.js";
import type { Store } from "../../src/store/store.js";
import { capturedOutput } from "../cli/cli-harness.js";
import { createAccount } from "../store/fixtures.js";
import { DIALECTS, openTestStore, type TestDatabase } from "../store/test-databases.js";
import { FAST_RETRY, startReceiver, storeMessage, waitFor, type Receiver } from "./delivery-fixture.js";

describe.each(DIALECTS)("inbound webhooks / deliveries (%s)", (dialect) => {
  let store: Store;
  let target: TestDatabase;
  let cleanup: () => Promise<void>;
  let receiver: Receiver;

  /** Run the delivery commands in-process, as `runCli` does after wiring them. */
  async function run(args: string[], stdin = ""): Promise<{ code: number; stdout: string; stderr: string }> {
    const { stdout, stderr, out, err } = capturedOutput();
    const io = { stdout, stderr, stdin: Readable.from([stdin]), env: {} };
    const program = new Command("inbound").option("--json").exitOverride().configureOutput({ writeOut: (s) => void stdout.write(s), writeErr: (s) => void stderr.write(s) });
    const ring = await loadKeyRing({ env: {}, dataDir: target.dataDir, log: () => undefined });
    const delivery = createDeliveryService({ store, box: createSecretBox(ring) });
    registerDeliveryCommands(program, {
      io,
      json: () => Boolean(program.opts().json),
      dataDir: () => target.dataDir,
      withInbound: async (work) => {
        try {
          return await work({ store, delivery });
        } finally {
          await delivery.close();
        }
      },
    });
    let code = 0;
    try {
      await program.parseAsync(args, { from: "user" });
    } catch (error) {
      code = reportError(io, args.includes("--json"), error);
    }
    await new Promise((resolve) => setImmediate(resolve));
    return { code, stdout: out(), stderr: err() };
  }

  beforeEach(async () => {
    ({ store, target, cleanup } = await openTestStore(dialect));
    receiver = await startReceiver();
  });
  afterEach(async () => {
    await receiver.close();
    await cleanup();
  });

  it("reads a webhook's signing secret from standard input, so it never shows in the process list", async () => {
    const secret = "whsec_from-stdin-0123456789";
    const added = await run(["webhooks", "add", "--url", receiver.url, "--secret-stdin", "--json"], `${secret}\n`);
    expect(added.code, added.stderr).toBe(0);
    const hook = JSON.parse(added.stdout) as { id: string; secret: string };
    expect(hook.secret).toBe(secret);
    const rotated = "whsec_rotated-9876543210abcdef";
    expect((await run(["webhooks", "update", hook.id, "--secret-stdin"], `${rotated}\n`)).code).toBe(0);
    expect(await store.webhooks.getSecretCiphertext(hook.id)).not.toContain(rotated);
    const both = await run(["webhooks", "update", hook.id, "--secret", "x".repeat(20), "--secret-stdin"], `${rotated}\n`);
    expect(both.code).toBe(1);
    expect(both.stderr).toContain("give --secret or --secret-stdin, not both");
    // The receiver verifies with the new secret.
    const tested = await run(["webhooks", "test", hook.id]);
    expect(tested.code).toBe(0);
    const request = receiver.requests.at(-1)!;
    const expected = `v1=${createHmac("sha256", rotated).update(`${request.headers["inbound-timestamp"] as string}.${request.body}`).digest("hex")}`;
    expect(request.headers["inbound-signature"]).toBe(expected);
  });

  it("adds a webhook printing its secret once, lists it without the secret, tests it", async () => {
    const added = await run(["webhooks", "add", "--url", receiver.url, "--events", "message.received,retrieval.failed", "--json"]);
    expect(added.code).toBe(0);
    const hook = JSON.parse(added.stdout) as { id: string; secret: string; events: string[] };
    expect(hook.secret).toMatch(/^whsec_/);
    expect(hook.events).toEqual(["message.received", "retrieval.failed"]);
    const listed = await run(["webhooks", "list"]);
    expect(listed.stdout).toContain(hook.id);
    expect(listed.stdout).not.toContain(hook.secret);
    expect((await run(["webhooks", "list", "--json"])).stdout).not.toContain(hook.secret);
    const tested = await run(["webhooks", "test", hook.id]);
    expect(tested).toMatchObject({ code: 0 });
    expect(tested.stdout).toMatch(/^OK: the target answered 200/);
    receiver.respond = () => 500;
    const failing = await run(["webhooks", "test", hook.id]);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain("WEBHOOK_FAILED");
    const invalid = await run(["webhooks", "add", "--url", "ftp://x", "--events", "nope"]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("WEBHOOK_INVALID");
    expect((await run(["webhooks", "remove", hook.id])).stdout).toContain(`Removed webhook ${hook.id}`);
    expect((await run(["webhooks", "remove", hook.id])).stderr).toContain("WEBHOOK_NOT_FOUND");
  });

  it("lists failed deliveries and replays one", async () => {
    receiver.respond = () => 500;
    const box = createSecretBox(await loadKeyRing({ env: {}, dataDir: target.dataDir, log: () => undefined }));
    const delivery = createDeliveryService({ store, box, webhookRetry: { ...FAST_RETRY, maxAttempts: 2 }, pollIntervalMs: 20 });
    try {
      await delivery.addWebhook({ url: receiver.url });
      const a = await createAccount(store, "support");
      const { eventId } = await storeMessage(store, a);
      await delivery.start();
      await waitFor(async () => (await delivery.listDeliveries({ status: "parked" })).items.length === 1, "a parked delivery");
      const failed = await run(["deliveries", "list", "--failed", "--account", "support", "--json"]);
      const page = JSON.parse(failed.stdout) as { items: Array<{ id: string; eventId: string; status: string; lastError: string }> };
      expect(page.items).toEqual([expect.objectContaining({ eventId, status: "parked", lastError: expect.stringContaining("500") })]);
      expect((await run(["deliveries", "list", "--failed"])).stdout).toMatch(/parked/);

      receiver.respond = () => 200;
      const replayed = await run(["deliveries", "replay", page.items[0].id]);
      expect(replayed.stdout).toContain("pending again");
      await waitFor(async () => (await delivery.getDelivery(page.items[0].id)).status === "succeeded", "the replayed delivery");
      expect((await run(["deliveries", "list", "--failed"])).stdout.trim()).toBe("No failed deliveries.");
      expect((await run(["deliveries", "replay", "nope"])).stderr).toContain("DELIVERY_NOT_FOUND");
    } finally {
      await delivery.close();
    }
  });
});
