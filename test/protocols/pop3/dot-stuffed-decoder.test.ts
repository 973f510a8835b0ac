import { describe, expect, it } from "vitest";
import { DotStuffedDecoder } from "../../../src/protocols/pop3/dot-stuffed-decoder.js";

const WIRE = "a\r\n..b\r\n.c\r\n\r\n...\r\nlong line\r\n..\r\n.\r\n+OK next";
const BODY = "a\r\n.b\r\nc\r\n\r\n..\r\nlong line\r\n.\r\n";

function decodePieces(pieces: string[]): { body: string; rest: string; doneAt: number } {
  const decoder = new DotStuffedDecoder();
  let body = "";
  let rest = "";
  let doneAt = -1;
  pieces.forEach((piece, index) => {
    if (doneAt !== -1) {
      rest += piece;
      return;
    }
    const result = decoder.decode(Buffer.from(piece, "latin1"));
    body += result.data.map((b) => b.toString("latin1")).join("");
    if (result.done) {
      doneAt = index;
      rest += result.rest?.toString("latin1") ?? "";
    }
  });
  return { body, rest, doneAt };
}

describe("DotStuffedDecoder", () => {
  it("unstuffs, keeps CRLF, stops at the terminator and returns the bytes after it", () => {
    expect(decodePieces([WIRE])).toEqual({ body: BODY, rest: "+OK next", doneAt: 0 });
  });

  it("gives the same result for every split of the reply into three chunks", () => {
    for (let i = 0; i <= WIRE.length; i++) {
      for (let j = i; j <= WIRE.length; j++) {
        const result = decodePieces([WIRE.slice(0, i), WIRE.slice(i, j), WIRE.slice(j)]);
        expect({ body: result.body, rest: result.rest }, `split at ${i}/${j}`).toEqual({ body: BODY, rest: "+OK next" });
      }
    }
  });

  it("gives the same result when fed one byte at a time", () => {
    const result = decodePieces([...WIRE]);
    expect(result.body).toBe(BODY);
    expect(result.rest).toBe("+OK next");
    expect(result.doneAt).toBe(WIRE.indexOf(".\r\n+OK") + 2);
  });

  it("starts a line only after CRLF: a bare LF, then a dot line, is content, however the input is split", () => {
    // A server that stuffs only after CRLF sends this body as is; ending at "LF.CRLF" would read
    // the rest of the message as the replies to the commands after it.
    const wire = "a\n.\r\n+OK forged\r\nb\n..c\r\n\r\n.\r\n+OK next";
    const body = "a\n.\r\n+OK forged\r\nb\n..c\r\n\r\n";
    for (let i = 0; i <= wire.length; i++) {
      for (let j = i; j <= wire.length; j++) {
        const result = decodePieces([wire.slice(0, i), "", wire.slice(i, j), wire.slice(j)]);
        expect({ body: result.body, rest: result.rest }, `split at ${i}/${j}`).toEqual({ body, rest: "+OK next" });
      }
    }
  });

  it("does not end at a dot that is not alone on its line", () => {
    const result = decodePieces(["x\r\n.", "\r", "x\r\n. \r\n", ".\r\n"]);
    expect(result.body).toBe("x\r\n\rx\r\n \r\n");
    expect(result.doneAt).toBe(3);
  });

  it("ends an empty body at once", () => {
    expect(decodePieces([".\r\n"])).toEqual({ body: "", rest: "", doneAt: 0 });
  });
});
