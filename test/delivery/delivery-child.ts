/*
 * Child process for crash.test.ts: runs a delivery service as `inbound serve`
 * would, until SIGTERM (drain, exit 0) or SIGKILL (the test's crash).
 * argv: dataDir databaseUrl|"" keyHex
 */
import { createDeliveryService } from "../../src/delivery/delivery-service.js";
import { createStore } from "../../src/store/store.js";
import { testBox } from "./delivery-fixture.js";

const [dataDir, databaseUrl, keyHex] = process.argv.slice(2);
const store = await createStore({ dataDir, databaseUrl: databaseUrl || undefined });
// A long lease: the restarted process must take over a dead one's deliveries at once, not after expiry.
const delivery = createDeliveryService({ store, box: testBox(keyHex).box, pollIntervalMs: 20, leaseMs: 60_000, webhookRetry: { maxAttempts: Number(process.env.CHILD_MAX_ATTEMPTS ?? 50), baseDelayMs: 20, maxDelayMs: 100 } });
await delivery.start();
process.stdout.write("started\n");
process.once("SIGTERM", () => {
  void delivery
    .close()
    .then(() => store.close())
    .then(() => process.exit(0));
});
