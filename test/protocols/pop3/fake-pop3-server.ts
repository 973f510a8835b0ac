import { createServer, type Server, type Socket } from "node:net";

/** One scripted client connection. */
export interface FakeSession {
  readonly socket: Socket;
  /** Write a reply; with `byteByByte` every byte is its own TCP write. */
  send(text: string | Buffer): Promise<void>;
}

export interface FakePop3Options {
  greeting?: string;
  /** CAPA lines; default USER, UIDL, PIPELINING. */
  capabilities?: string[];
  byteByByte?: boolean;
  /** Answer a command; return false to fall back to the defaults (+OK for login, -ERR otherwise). */
  onCommand?: (line: string, session: FakeSession) => Promise<boolean | void> | boolean | void;
}

export interface FakePop3Server {
  readonly port: number;
  /** Every command line received, in order. */
  readonly commands: string[];
  close(): Promise<void>;
}

/**
 * A scripted POP3 server for faults Dovecot cannot produce (a reply split
 * into single bytes, a dropped connection mid-RETR, a server that stalls).
 * Commands are answered strictly in order, as pipelining requires.
 */
export async function startFakePop3(options: FakePop3Options = {}): Promise<FakePop3Server> {
  const commands: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    const session: FakeSession = {
      socket,
      async send(text) {
        const bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
        if (!options.byteByByte) {
          socket.write(bytes);
          return;
        }
        for (let i = 0; i < bytes.length && !socket.destroyed; i++) {
          socket.write(bytes.subarray(i, i + 1));
          await new Promise((r) => setTimeout(r, 1));
        }
      },
    };
    let pending = "";
    let queue = session.send(options.greeting ?? "+OK fake POP3 ready\r\n");
    socket.on("data", (data) => {
      pending += data.toString("latin1");
      let newline: number;
      while ((newline = pending.indexOf("\r\n")) !== -1) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 2);
        commands.push(line);
        queue = queue.then(() => answer(line, session, options));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    commands,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function answer(line: string, session: FakeSession, options: FakePop3Options): Promise<void> {
  if (session.socket.destroyed) return;
  if (options.onCommand && (await options.onCommand(line, session)) !== false) return;
  const verb = line.split(" ")[0].toUpperCase();
  if (verb === "CAPA") {
    const lines = options.capabilities ?? ["USER", "UIDL", "PIPELINING"];
    await session.send(`+OK\r\n${lines.map((l) => `${l}\r\n`).join("")}.\r\n`);
  } else if (verb === "USER" || verb === "PASS" || verb === "AUTH" || verb === "NOOP") {
    await session.send("+OK\r\n");
  } else if (verb === "QUIT") {
    await session.send("+OK bye\r\n");
    session.socket.end();
  } else {
    await session.send("-ERR unknown command\r\n");
  }
}
