import { collect, rejection } from "../../harness/expectations.js";
import type { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { InboundError } from "../../../src/core/inbound-error.js";
import { connectPop3, Pop3ReplyError, type Pop3ConnectOptions } from "../../../src/protocols/pop3/index.js";
import { startFakePop3, type FakePop3Options, type FakePop3Server } from "./fake-pop3-server.js";

let server: FakePop3Server | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function fake(options: FakePop3Options): Promise<Pop3ConnectOptions> {
  server = await startFakePop3(options);
  return { host: "127.0.0.1", port: server.port, security: "none", tlsVerify: true, username: "alice", password: "fake-secret-123", timeoutMs: 5_000 };
}

const STUFFED: Record<string, string> = {
  RETR_1: "+OK 40 octets\r\nSubject: one\r\n\r\n..dot line\r\n...\r\nx\r\n.\r\n",
  RETR_2: "+OK\r\nSubject: two\r\n\r\n.\r\n",
  RETR_3: "+OK\r\n\r\n..\r\n.\r\n",
};

describe("POP3 client against a scripted server", () => {
  it("reads every reply correctly when each byte arrives in its own TCP packet", async () => {
    const options = await fake({
      byteByByte: true,
      capabilities: ["USER", "UIDL", "PIPELINING", "RESP-CODES"],
      onCommand: async (line, session) => {
        if (line === "LIST") await session.send("+OK 3 messages\r\n1 40\r\n2 20\r\n3 10\r\n.\r\n");
        else if (line === "UIDL") await session.send("+OK\r\n1 aaa\r\n2 bbb\r\n3 c.c\r\n.\r\n");
        else if (line.startsWith("RETR ")) await session.send(STUFFED[`RETR_${line.slice(5)}`] ?? "-ERR no such message\r\n");
        else return false;
      },
    });
    const client = await connectPop3(options);
    try {
      expect(client.capabilities.get("RESP-CODES")).toEqual([]);
      expect(await client.list()).toEqual([{ number: 1, size: 40 }, { number: 2, size: 20 }, { number: 3, size: 10 }]);
      expect(await client.uidl()).toEqual([{ number: 1, uidl: "aaa" }, { number: 2, uidl: "bbb" }, { number: 3, uidl: "c.c" }]);
      const bodies: string[] = [];
      await client.retrieve([1, 2, 3], async (_n, body) => void bodies.push((await collect(body)).toString("latin1")));
      expect(bodies).toEqual(["Subject: one\r\n\r\n.dot line\r\n..\r\nx\r\n", "Subject: two\r\n\r\n", "\r\n.\r\n"]);
      await client.quit();
    } finally {
      client.close();
    }
    // With PIPELINING all three RETRs went out before the first reply was read.
    expect(server!.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR 1", "RETR 2", "RETR 3"]);
  });

  it("skips a RETR the server refuses and hands each later body to its own message", async () => {
    for (const capabilities of [["USER", "UIDL", "PIPELINING", "RESP-CODES"], ["USER", "UIDL"]]) {
      const options = await fake({
        capabilities,
        onCommand: async (line, session) => {
          if (line === "RETR 1") await session.send("-ERR [SYS/PERM] cannot read message 1\r\n");
          else if (line === "RETR 3") await session.send("-ERR no such message\r\n");
          else if (line.startsWith("RETR ")) await session.send(`+OK\r\nbody of ${line.slice(5)}\r\n.\r\n`);
          else if (line === "UIDL") await session.send("+OK\r\n1 aaa\r\n2 bbb\r\n3 ccc\r\n4 ddd\r\n.\r\n");
          else return false;
        },
      });
      const client = await connectPop3(options);
      try {
        const bodies: Array<[number, string]> = [];
        const result = await client.retrieve([1, 2, 3, 4], async (n, body) => void bodies.push([n, (await collect(body)).toString("latin1")]));
        // A refusal carries no body: the reply after it is the next RETR's.
        expect(bodies).toEqual([[2, "body of 2\r\n"], [4, "body of 4\r\n"]]);
        expect(result.refused).toEqual([
          { number: 1, responseCode: "SYS/PERM", serverText: "cannot read message 1" },
          { number: 3, responseCode: null, serverText: "no such message" },
        ]);
        expect(await client.uidl()).toEqual([{ number: 1, uidl: "aaa" }, { number: 2, uidl: "bbb" }, { number: 3, uidl: "ccc" }, { number: 4, uidl: "ddd" }]);
      } finally {
        client.close();
      }
      expect(server!.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR 1", "RETR 2", "RETR 3", "RETR 4"]);
      await server!.close();
      server = undefined;
    }
  });

  it("sends RETR one at a time when the server has no PIPELINING", async () => {
    const order: string[] = [];
    const options = await fake({
      capabilities: ["USER", "UIDL"],
      onCommand: async (line, session) => {
        if (!line.startsWith("RETR ")) return false;
        order.push(`got ${line}`);
        await new Promise((r) => setTimeout(r, 20));
        order.push(`answered ${line}`);
        await session.send(STUFFED[`RETR_${line.slice(5)}`]);
      },
    });
    const client = await connectPop3(options);
    try {
      await client.retrieve([1, 2], async (_n, body) => void (await collect(body)));
    } finally {
      client.close();
    }
    expect(order).toEqual(["got RETR 1", "answered RETR 1", "got RETR 2", "answered RETR 2"]);
  });

  it("reports a server without UIDL as POP3_UIDL_UNSUPPORTED and stays usable", async () => {
    const options = await fake({
      capabilities: ["USER", "TOP"],
      onCommand: async (line, session) => {
        if (line === "STAT") await session.send("+OK 2 300\r\n");
        else return false;
      },
    });
    const client = await connectPop3(options);
    try {
      const error = await rejection(client.uidl());
      expect(error.code).toBe("POP3_UIDL_UNSUPPORTED");
      expect(error.message).toMatch(/does not support UIDL/);
      expect(error.retryable).toBe(false);
      expect(await client.stat()).toEqual({ count: 2, size: 300 });
    } finally {
      client.close();
    }
  });

  it("times out with CONNECTION_TIMEOUT when the server stops answering mid-RETR, and the body stream errors", async () => {
    const options = await fake({
      onCommand: async (line, session) => {
        if (!line.startsWith("RETR")) return false;
        await session.send("+OK\r\nSubject: stalled\r\n\r\nfirst part of the bo");
      },
    });
    const client = await connectPop3({ ...options, timeoutMs: 300 });
    let streamError: unknown;
    let partial = "";
    const error = await rejection(client.retrieve([1], async (_n, body) => {
      try {
        for await (const chunk of body) partial += (chunk as Buffer).toString("latin1");
      } catch (e) {
        streamError = e;
        throw e;
      }
    }));
    expect(error.code).toBe("CONNECTION_TIMEOUT");
    expect(error.retryable).toBe(true);
    expect(partial).toBe("Subject: stalled\r\n\r\nfirst part of the bo");
    expect((streamError as InboundError).code).toBe("CONNECTION_TIMEOUT");
    // The socket is gone: later commands fail instead of reading a stale reply.
    expect((await rejection(client.noop())).code).toBe("CONNECTION_TIMEOUT");
  });

  it("refuses a status line longer than maxLineLength with PROTOCOL_LIMIT_EXCEEDED", async () => {
    const options = await fake({
      onCommand: async (line, session) => {
        if (line === "STAT") await session.send(`+OK 1 100 ${"x".repeat(2_000)}\r\n`);
        else return false;
      },
    });
    const client = await connectPop3({ ...options, maxLineLength: 1024 });
    try {
      const error = await rejection(client.stat());
      expect(error.code).toBe("PROTOCOL_LIMIT_EXCEEDED");
      expect(error.message).toContain("1024");
    } finally {
      client.close();
    }
  });

  it("refuses an over-long greeting before reading it whole", async () => {
    const options = await fake({ greeting: `+OK ${"g".repeat(100_000)}\r\n` });
    const error = await rejection(connectPop3({ ...options, maxLineLength: 4096 }));
    expect(error.code).toBe("PROTOCOL_LIMIT_EXCEEDED");
  });

  it("fails with CONNECTION_CLOSED when the connection drops mid-RETR, erroring the body instead of truncating it", async () => {
    const options = await fake({
      onCommand: async (line, session) => {
        if (!line.startsWith("RETR")) return false;
        await session.send("+OK\r\nSubject: dropped\r\n\r\nhalf a mess");
        session.socket.destroy();
      },
    });
    const client = await connectPop3(options);
    let completed = false;
    let streamError: unknown;
    const error = await rejection(client.retrieve([1], async (_n, body) => {
      try {
        await collect(body);
        completed = true;
      } catch (e) {
        streamError = e;
        throw e;
      }
    }));
    expect(error.code).toBe("CONNECTION_CLOSED");
    expect(error.retryable).toBe(true);
    expect(completed).toBe(false);
    expect((streamError as InboundError).code).toBe("CONNECTION_CLOSED");
  });

  it("stops with ABORTED when the signal fires mid-RETR", async () => {
    const controller = new AbortController();
    const options = await fake({
      onCommand: async (line, session) => {
        if (!line.startsWith("RETR")) return false;
        await session.send("+OK\r\nSubject: slow\r\n\r\n");
        setTimeout(() => controller.abort(), 50);
      },
    });
    const client = await connectPop3({ ...options, signal: controller.signal });
    const error = await rejection(client.retrieve([1], async (_n, body) => void (await collect(body))));
    expect(error.code).toBe("ABORTED");
  });

  it("logs in with USER/PASS when CAPA has no SASL PLAIN, and [IN-USE] makes the failure retryable", async () => {
    const options = await fake({
      capabilities: ["USER", "UIDL", "RESP-CODES"],
      onCommand: async (line, session) => {
        if (line.startsWith("PASS ")) await session.send("-ERR [IN-USE] mailbox locked by another session\r\n");
        else return false;
      },
    });
    const error = await rejection(connectPop3(options));
    expect(error).toBeInstanceOf(Pop3ReplyError);
    expect(error.code).toBe("POP3_AUTH_FAILED");
    expect(error.retryable).toBe(true);
    expect((error as Pop3ReplyError).responseCode).toBe("IN-USE");
    expect(server!.commands).toEqual(["CAPA", "USER alice", "PASS fake-secret-123"]);
    expect(`${error.message}${JSON.stringify(error)}`).not.toContain("fake-secret-123");
  });

  it("[SYS/TEMP] on AUTH is retryable; [AUTH] is not", async () => {
    for (const [code, retryable] of [["SYS/TEMP", true], ["AUTH", false]] as const) {
      const options = await fake({
        capabilities: ["SASL PLAIN", "UIDL", "RESP-CODES"],
        onCommand: async (line, session) => {
          if (line.startsWith("AUTH ")) await session.send(`-ERR [${code}] no\r\n`);
          else return false;
        },
      });
      const error = await rejection(connectPop3(options));
      expect(error.code).toBe("POP3_AUTH_FAILED");
      expect(error.retryable).toBe(retryable);
      await server!.close();
      server = undefined;
    }
  });

  it("sends SASL PLAIN with an initial response, and after a continuation when the line would pass 255 octets", async () => {
    for (const password of ["short-secret", "p".repeat(300)]) {
      let awaitingResponse = false;
      const options = await fake({
        capabilities: ["SASL PLAIN LOGIN", "UIDL"],
        onCommand: async (line, session) => {
          if (line === "AUTH PLAIN") {
            awaitingResponse = true;
            await session.send("+ \r\n");
          } else if (line.startsWith("AUTH PLAIN ") || awaitingResponse) {
            awaitingResponse = false;
            await session.send("+OK logged in\r\n");
          } else return false;
        },
      });
      const client = await connectPop3({ ...options, password });
      client.close();
      const expected = Buffer.from(`\0alice\0${password}`).toString("base64");
      const auth = server!.commands.slice(1, -1);
      expect(auth).toEqual(password.length < 100 ? [`AUTH PLAIN ${expected}`] : ["AUTH PLAIN", expected]);
      await server!.close();
      server = undefined;
    }
  });

  it("refuses STLS that the server does not list in CAPA, never sending credentials", async () => {
    const options = await fake({ capabilities: ["USER", "UIDL"] });
    const error = await rejection(connectPop3({ ...options, security: "starttls" }));
    expect(error.code).toBe("STARTTLS_UNSUPPORTED");
    expect(server!.commands).toEqual(["CAPA"]);
  });
});
