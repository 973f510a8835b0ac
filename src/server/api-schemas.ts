import { z } from "zod";

/*
 * Schemas shared by several resources. Each named one (`.meta({ id })`)
 * becomes a component of the OpenAPI document.
 */

/** An ISO-8601 UTC timestamp as stored. */
export const timestamp = z.string().describe("ISO-8601 UTC timestamp");

/** `{ id }` path parameters. */
export const idParams = z.object({ id: z.string().min(1).max(200) });

/** `?limit=&cursor=` for cursor-paged lists. */
export const pageQuery = {
  limit: z.coerce.number().int("must be a whole number").min(1, "must be at least 1").max(500, "must be at most 500").optional().describe("Items per page, 1..500 (default 50)"),
  cursor: z.string().max(200).optional().describe("`nextCursor` of the previous page"),
};

/** A query-string boolean: `true`/`false` (also 1/0, yes/no). */
export const queryBoolean = z.stringbool({ truthy: ["true", "1", "yes"], falsy: ["false", "0", "no"] });

/** A page of `item`s; `nextCursor` is `null` on the last page. */
export function pageOf<T extends z.ZodType>(item: T, id: string) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta({ id });
}

/** A mailbox address. */
export const addressSchema = z.object({ name: z.string(), address: z.string() }).meta({ id: "Address" });

/** The role of a user or token. */
export const roleSchema = z.enum(["admin", "viewer"]).meta({ id: "Role" });
