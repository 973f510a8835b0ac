import type { z } from "zod";
import { invalidTypeMessage, valueAtPath } from "../core/validation-words.js";
import { ApiError } from "./api-error.js";

/** One problem with one field, as in CONFIG_INVALID's `details.fields`. */
export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * Turn zod issues into one problem per field, in words. `input` is the value
 * that was parsed: it tells a missing field from one of the wrong type (zod 4
 * keeps the input out of issues). The words never repeat the value.
 */
export function fieldProblems(error: z.ZodError, input: unknown, part: "params" | "query" | "body" = "body"): FieldProblem[] {
  const problems = error.issues.flatMap((issue): FieldProblem[] => {
    const prefix = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ field: prefix ? `${prefix}.${key}` : key, message: "is not a known field" }));
    }
    const field = prefix || `(${part})`;
    if (issue.code === "invalid_type") {
      // `?limit=1&limit=2` arrives as a list; say so rather than "must be a number".
      if (part === "query" && issue.expected !== "array" && Array.isArray(valueAtPath(input, issue.path))) return [{ field, message: "must be given once" }];
      return [{ field, message: invalidTypeMessage(issue, input) }];
    }
    if (issue.code === "invalid_value") return [{ field, message: `must be one of ${issue.values.map(String).join(", ")}` }];
    return [{ field, message: issue.message }];
  });
  return problems.filter((p, i) => problems.findIndex((q) => q.field === p.field) === i);
}

/**
 * Parse `value` with `schema` or throw REQUEST_INVALID naming each field.
 *
 * @example
 * ```ts
 * const query = parseRequestPart("query", listQuerySchema, request.query);
 * ```
 */
export function parseRequestPart<S extends z.ZodType>(part: "params" | "query" | "body", schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const fields = fieldProblems(result.error, value, part);
  throw new ApiError("REQUEST_INVALID", {
    message: `Invalid ${part}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`,
    details: { in: part, fields },
  });
}
