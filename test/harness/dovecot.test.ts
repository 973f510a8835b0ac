import { connect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDovecot, type DovecotServer } from "./dovecot.js";

describe("test Dovecot harness", () => {
  let dovecot: DovecotServer;
  beforeAll(async () => {
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    await dovecot.stop();
  });

  it("serves IMAPS with its self-signed certificate, trusted when given as CA", async () => {
    const greeting = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port: dovecot.ports.imaps, ca: dovecot.certPem, servername: "localhost" });
      socket.once("data", (d) => {
        socket.destroy();
        resolve(d.toString());
      });
      socket.once("error", reject);
    });
    expect(greeting).toMatch(/^\* OK/);
  });

  it("counts delivered messages in the Maildir", () => {
    dovecot.deliver("alice", "Subject: one\r\n\r\nbody\r\n");
    expect(dovecot.count("alice")).toBe(1);
  });
});
