/*
 * Words for zod's type errors, shared by account settings and API request
 * validation: bad input gets an error naming the field and what is wrong,
 * never the value (it may be a password).
 */

const TYPE_IN_WORDS: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  bigint: "a whole number",
  boolean: "true or false",
  object: "an object",
  array: "an array",
  date: "a date",
  null: "null",
};

/**
 * The value at a zod issue's `path` in `input`, or undefined where the path
 * leads nowhere (own properties only).
 *
 * @example
 * ```ts
 * valueAtPath({ a: { b: 1 } }, ["a", "b"]); // 1
 * ```
 */
export function valueAtPath(input: unknown, path: readonly PropertyKey[]): unknown {
  let current = input;
  for (const key of path) {
    if (typeof current !== "object" || current === null || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/**
 * Words for a zod `invalid_type` issue: "is required" when the field is
 * absent from `input` (the value that was parsed), else what it must be.
 * Zod 4 leaves the input out of issues (and must: it would copy passwords
 * into them), so absence is decided by looking the path up in `input`. The
 * value itself is never put into the words.
 *
 * @example
 * ```ts
 * const result = schema.safeParse(body);
 * if (!result.success) for (const issue of result.error.issues) if (issue.code === "invalid_type") invalidTypeMessage(issue, body); // "must be a number"
 * ```
 */
export function invalidTypeMessage(issue: { path: readonly PropertyKey[]; expected: string; message: string }, input: unknown): string {
  if (issue.path.length > 0 && valueAtPath(input, issue.path) === undefined) return "is required";
  const expected = TYPE_IN_WORDS[issue.expected];
  return expected === undefined ? issue.message : `must be ${expected}`;
}
