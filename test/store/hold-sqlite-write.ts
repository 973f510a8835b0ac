/*
 * Child process for sqlite-writers.test.ts: as a second process would, take a
 * message in a transaction, say "ready", hold the transaction open a while, commit.
 * argv: dataDir accountId uid holdMs
 */
import { createStore } from "../../src/store/store.js";
import { takenImap } from "./fixtures.js";

const [dataDir, accountId, uid, holdMs] = process.argv.slice(2);
const store = await createStore({ dataDir });
try {
  const result = await store.transaction(async (trx) => {
    const r = await store.messages.insertTaken(trx, [takenImap(accountId, Number(uid))]);
    process.stdout.write("ready\n");
    await new Promise((resolve) => setTimeout(resolve, Number(holdMs)));
    return r;
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await store.close();
}
