/**
 * The one timestamp format in the database: ISO-8601 UTC with milliseconds,
 * which sorts as text on SQLite and PostgreSQL alike.
 *
 * @example
 * ```ts
 * toTimestamp(new Date(0)); // "1970-01-01T00:00:00.000Z"
 * toTimestamp(); // now
 * ```
 */
export function toTimestamp(value: Date | number | string = new Date()): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw new RangeError(`Not a valid date: ${String(value)}`);
  return date.toISOString();
}

/** Like {@link toTimestamp} but passes `null`/`undefined` through as `null`. */
export function toTimestampOrNull(value: Date | number | string | null | undefined): string | null {
  return value === null || value === undefined ? null : toTimestamp(value);
}
