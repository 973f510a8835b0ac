import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDeliveryService } from "../../src/delivery/delivery-service.js";
import type { WebhookBody } from "../../src/delivery/webhook-payload.js";
import type { Store } from "../../src/store/store.js";
import { createAccount } from "../store/fixtures.js";
import { DIALECTS, openTestStore, type TestDatabase } from "../store/test-databases.js";
import { startReceiver, storeMessage, testBox, waitFor, type Receiver } from "./delivery-fixture.js";

const CHILD = new URL("./delivery-child.ts", import.meta.url).pathname;

function startChild(target: TestDatabase, keyHex: string, env: Record<string, string> = {}): ChildProcess & { started: Promise<void> } {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, target.dataDir, target.databaseUrl ?? "", keyHex], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const started = new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => c.toString().includes("started") && resolve());
    child.once("exit", (code) => reject(new Error(`child exited with ${code}: ${stderr}`)));
  });
  started.catch(() => undefined);
  return Object.assign(child, { started });
}

describe.each(DIALECTS)("a delivery process killed mid-delivery (%s)", (dialect) => {
  let store: Store;
  let target: TestDatabase;
  let cleanup: () => Promise<void>;
  let receiver: Receiver;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    ({ store, target, cleanup } = await openTestStore(dialect));
    receiver = await startReceiver(() => ({ status: 200, delayMs: 15 }));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await receiver.close();
    await cleanup();
  });

  it("parks an event whose attempts keep taking the process down, then delivers the ones behind it", async () => {
    const { keyHex, box } = testBox();
    const admin = createDeliveryService({ store, box });
    await admin.addWebhook({ url: receiver.url, events: ["message.received"] });
    const a = await createAccount(store, "a");
    const poison = await storeMessage(store, a);
    const next = await storeMessage(store, a);
    // The poison event's attempt never ends: the test kills the process during it, as a crash would.
    receiver.respond = ({ body }) => (body.includes(poison.eventId) ? { status: 200, delayMs: 60_000 } : 200);
    const attemptsAt = (eventId: string) => receiver.requests.filter((r) => r.headers["inbound-event-id"] === eventId).length;
    for (let run = 1; run <= 3; run++) {
      const child = startChild(target, keyHex, { CHILD_MAX_ATTEMPTS: "3" });
      children.push(child);
      await child.started;
      await waitFor(() => attemptsAt(poison.eventId) === run, `attempt ${run} of the poison event`);
      child.kill("SIGKILL");
      await once(child, "exit");
    }
    const last = startChild(target, keyHex, { CHILD_MAX_ATTEMPTS: "3" });
    children.push(last);
    await last.started;
    await waitFor(() => attemptsAt(next.eventId) === 1, "the event behind the parked one");
    expect(attemptsAt(poison.eventId)).toBe(3);
    const failed = (await admin.listDeliveries({ failed: true })).items;
    expect(failed.map((d) => [d.eventId, d.status])).toEqual([[poison.eventId, "parked"]]);
    expect(failed[0].lastError).toMatch(/did not finish/);
    last.kill("SIGTERM");
    await once(last, "exit");
  });

  it("loses nothing after SIGKILL and restart; repeats carry the same event id", async () => {
    const { keyHex, box } = testBox();
    const admin = createDeliveryService({ store, box });
    await admin.addWebhook({ url: receiver.url, events: ["message.received"] });
    const a = await createAccount(store, "a");
    const b = await createAccount(store, "b");
    const stored: Array<{ account: string; eventId: string }> = [];
    for (let i = 0; i < 40; i++) {
      const account = i % 2 ? a : b;
      stored.push({ account, ...(await storeMessage(store, account)) });
    }

    const first = startChild(target, keyHex);
    children.push(first);
    await first.started;
    await waitFor(() => receiver.requests.length >= 12, "a dozen deliveries before the crash");
    first.kill("SIGKILL");
    await once(first, "exit");
    const beforeRestart = receiver.requests.length;
    expect(beforeRestart).toBeLessThan(40);

    const second = startChild(target, keyHex);
    children.push(second);
    await second.started;
    const delivered = () => new Set(receiver.requests.map((r) => r.headers["inbound-event-id"] as string));
    await waitFor(() => delivered().size === 40, "every event after the restart", 30_000);
    second.kill("SIGTERM");
    const [code] = await once(second, "exit");
    expect(code).toBe(0);

    expect([...delivered()].sort()).toEqual(stored.map((s) => s.eventId).sort());
    // Any repeat is a retry of the same event, and per account the first arrivals follow stored order.
    expect(receiver.requests.length - 40).toBeLessThanOrEqual(2);
    for (const account of [a, b]) {
      const firsts: string[] = [];
      for (const r of receiver.requests) {
        const body = JSON.parse(r.body) as WebhookBody;
        if (body.account?.id === account && !firsts.includes(body.id)) firsts.push(body.id);
      }
      expect(firsts).toEqual(stored.filter((s) => s.account === account).map((s) => s.eventId));
    }
    const open = await admin.listDeliveries({ limit: 100 });
    expect(open.items.filter((d) => d.status !== "succeeded")).toEqual([]);
    await admin.close();
  });
});
