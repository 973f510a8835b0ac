import { MailParser, type MailParserOptions } from "mailparser";

/**
 * mailparser's `MailParser` without `textAsHtml`, which we never read.
 *
 * At the end of a message mailparser HTML-escapes and linkifies the whole
 * text body into `textAsHtml` (he.encode and linkify-it: about a tenth of
 * the parse's CPU on our corpus). Its `skipTextToHtml` option cannot be used:
 * `textToHtml` is also how a text/plain part beside an HTML part (in
 * multipart/mixed, or a delivery status) becomes part of `html`, and that
 * option would turn those into empty strings.
 *
 * mailparser builds `textAsHtml` right after it assigns the joined `text`,
 * and converts the parts for `html` before that, so once `text` is set every
 * further `textToHtml` call is for `textAsHtml` and returns "". Should a
 * mailparser release reorder that, `html` would lose those parts, which the
 * tests on mixed text and HTML parts catch.
 *
 * @example
 * ```ts
 * const parser = new LeanMailParser({ checksumAlgo: false });
 * source.pipe(parser).on("data", (data) => data.type === "text" && data.html);
 * ```
 */
export class LeanMailParser extends MailParser {
  #textJoined = false;

  constructor(options?: MailParserOptions) {
    super(options);
    let text: string | false = this.text;
    Object.defineProperty(this, "text", {
      configurable: true,
      enumerable: true,
      get: () => text,
      set: (value: string | false) => {
        text = value;
        this.#textJoined = value !== false;
      },
    });
  }

  override textToHtml(str: string): string {
    return this.#textJoined ? "" : super.textToHtml(str);
  }
}
