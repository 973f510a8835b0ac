/**
 * A text value as the database can hold it: U+0000 replaced by U+FFFD.
 * PostgreSQL's text type cannot store NUL and refuses the whole statement,
 * and mail carries it easily (`=00` in quoted-printable, `=?utf-8?Q?a=00b?=`
 * in a subject, a NUL byte in a raw header), so one message would fail its
 * batch or its parse group on every pass. SQLite could keep it; it gets the
 * same replacement so both databases store the same thing. The raw message
 * keeps every byte.
 *
 * @example
 * ```ts
 * storableText("x\u0000y"); // "x\uFFFDy"
 * storableText(null);       // null
 * ```
 */
export function storableText<T extends string | null | undefined>(value: T): T {
  if (typeof value !== "string" || !value.includes("\u0000")) return value;
  return value.replaceAll("\u0000", "\uFFFD") as T;
}
