import type { z } from "zod";
import { ApiError } from "./api-error.js";

/** One problem with one field, as in CONFIG_INVALID's `details.fields`. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** Turn zod issues into one problem per field, in words. */
export function fieldProblems(error: z.ZodError): FieldProblem[] {
  const problems = error.issues.flatMap((issue): FieldProblem[] => {
    const prefix = issue.path.map(String).join(".");
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({ field: prefix ? `${prefix}.${key}` : key, message: "is not a known field" }));
    }
    const field = prefix || "(body)";
    if (issue.code === "invalid_type") return [{ field, message: issue.input === undefined ? "is required" : `must be a ${issue.expected}` }];
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
  const fields = fieldProblems(result.error);
  throw new ApiError("REQUEST_INVALID", {
    message: `Invalid ${part}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`,
    details: { in: part, fields },
  });
}
