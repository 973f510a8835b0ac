import { connect, createServer, type AddressInfo, type Server } from "node:net";

/** One connection through the proxy, as a rewrite sees it. */
export interface ProxyConnection {
  /** 0 for the first connection, 1 for the next, ... */
  index: number;
  /** Close both sides once the text at hand is passed on: a connection dropped at that point. */
  drop(): void;
}

/** What a proxy changes: each side's text (whole lines, latin1) on its way to the other. */
export interface ProxyRewrite {
  fromServer?: (text: string, connection: ProxyConnection) => string;
  fromClient?: (text: string, connection: ProxyConnection) => string;
}

/**
 * A TCP proxy in front of a real server (Dovecot) that changes what one side
 * says or drops the connection at a chosen point: for faults the server
 * itself cannot be made to produce. Rewrites see whole lines, so a token is
 * never split across two calls; only for tests whose messages are ASCII.
 *
 * @example
 * ```ts
 * const proxy = await rewritingProxy(dovecot.ports.imap, { fromServer: (text) => text.replace("RFC822.SIZE 5", "RFC822.SIZE 6") });
 * ```
 */
export async function rewritingProxy(upstreamPort: number, rewrite: ProxyRewrite): Promise<{ port: number; server: Server }> {
  let connections = 0;
  const server = createServer((client) => {
    const upstream = connect(upstreamPort, "127.0.0.1");
    let dropping = false;
    const connection: ProxyConnection = { index: connections++, drop: () => (dropping = true) };
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    const relay = (change: ((text: string, connection: ProxyConnection) => string) | undefined, to: NodeJS.WritableStream) => {
      let held = "";
      return (chunk: Buffer) => {
        if (!change) return void to.write(chunk);
        const text = held + chunk.toString("latin1");
        const cut = text.lastIndexOf("\n") + 1;
        held = text.slice(cut);
        if (cut === 0) return;
        to.write(Buffer.from(change(text.slice(0, cut), connection), "latin1"), () => {
          if (dropping) end();
        });
      };
    };
    upstream.on("data", relay(rewrite.fromServer, client));
    client.on("data", relay(rewrite.fromClient, upstream));
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, server };
}
