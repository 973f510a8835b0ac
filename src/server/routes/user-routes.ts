import { z } from "zod";
import { ApiError } from "../api-error.js";
import { idParams, roleSchema, timestamp } from "../api-schemas.js";
import { hashPassword } from "../auth/password-hash.js";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";

/** A user as returned: never a password or its hash. */
export const userSchema = z.object({ id: z.string(), username: z.string(), role: roleSchema, createdAt: timestamp, updatedAt: timestamp }).meta({ id: "User" });

/** Password rules for new and changed passwords. */
export const newPasswordSchema = z.string().min(10, "must be at least 10 characters").max(1024, "must be at most 1024 characters");

const username = z
  .string()
  .min(1, "must not be empty")
  .max(100, "must be at most 100 characters")
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, "may hold letters, digits, '.', '_', '@' and '-', starting with a letter or digit");

const userInput = z.object({ username, password: newPasswordSchema, role: roleSchema }).strict().meta({ id: "UserInput" });
const userPatch = z.object({ role: roleSchema.optional(), password: newPasswordSchema.optional() }).strict().meta({ id: "UserPatch" });

/** Users (admin only): list, create, change role or password, remove. */
export function userRoutes(deps: RouteDeps): RouteDefinition[] {
  const { store } = deps.inbound;
  const { users, apiTokens } = store;
  const notFound = (id: string) => new ApiError("USER_NOT_FOUND", { message: `No user has the id "${id}"; list users with GET /api/v1/users.` });
  const mustFind = async (id: string) => {
    const user = await users.find(id);
    if (user === undefined) throw notFound(id);
    return user;
  };
  /*
   * Demoting or removing: lock the admin rows, then read the user and count,
   * then change, all in one transaction (see `lockAdmins`). Two concurrent
   * demotions of the last two admins then leave one, not none.
   */
  const lastAdmin = (action: string) => new ApiError("LAST_ADMIN", { message: `Cannot ${action}: it is the only admin. Make another user admin first.` });

  return [
    defineRoute({
      method: "GET", path: "/users", operationId: "listUsers", tag: "users", summary: "List users", access: "admin",
      responses: { 200: { description: "Every user, by username", schema: z.object({ items: z.array(userSchema) }) } },
      handler: async () => ({ items: await users.list() }),
    }),
    defineRoute({
      method: "POST", path: "/users", operationId: "createUser", tag: "users", summary: "Add a user", access: "admin",
      body: userInput,
      responses: { 201: { description: "The new user", schema: userSchema } },
      handler: async ({ body }) => {
        const outcome = await users.create({ username: body.username, passwordHash: await hashPassword(body.password), role: body.role });
        if (!outcome.created) throw new ApiError("USER_EXISTS", { message: `A user named "${body.username}" already exists.`, details: { fields: [{ field: "username", message: "is taken" }] } });
        return outcome.user;
      },
    }),
    defineRoute({
      method: "GET", path: "/users/{id}", operationId: "getUser", tag: "users", summary: "One user", access: "admin",
      params: idParams,
      responses: { 200: { description: "The user", schema: userSchema } },
      handler: async ({ params }) => mustFind(params.id),
    }),
    defineRoute({
      method: "PATCH", path: "/users/{id}", operationId: "updateUser", tag: "users", summary: "Change a user's role or password", access: "admin",
      description: "Either change signs the user out everywhere. Making an admin a viewer also lowers the admin API tokens they created (and tokens those created) to viewer.",
      params: idParams, body: userPatch,
      responses: { 200: { description: "The user after the change", schema: userSchema } },
      handler: async ({ params, body }) => {
        // Hash before the transaction: no lock is held through ~100 ms of scrypt.
        const passwordHash = body.password === undefined ? undefined : await hashPassword(body.password);
        return store.transaction(async (trx) => {
          const demoting = body.role === "viewer";
          // Lock first, then read: the role read is then the one the lock protects.
          const admins = demoting ? await users.lockAdmins(trx) : undefined;
          const user = await users.find(params.id, trx);
          if (user === undefined) throw notFound(params.id);
          const demotesAnAdmin = demoting && user.role === "admin";
          if (demotesAnAdmin && admins !== undefined && admins <= 1) throw lastAdmin(`make "${user.username}" a viewer`);
          const updated = await users.update(user.id, { role: body.role, passwordHash }, trx);
          if (updated === undefined) throw notFound(params.id);
          if (body.role !== undefined || body.password !== undefined) await users.deleteSessionsOf(user.id, trx);
          if (demotesAnAdmin) {
            const { changed } = await apiTokens.restrictIssuedBy(user.id, "viewer", trx);
            if (changed.length > 0) deps.log.info({ username: user.username, tokens: changed }, "user made a viewer: their admin API tokens lowered to viewer");
          }
          return updated;
        });
      },
    }),
    defineRoute({
      method: "DELETE", path: "/users/{id}", operationId: "deleteUser", tag: "users", summary: "Remove a user (and their sessions)", access: "admin",
      description: "Also revokes the API tokens the user created, and the tokens those created.",
      params: idParams,
      responses: { 204: { description: "Removed" } },
      handler: async ({ params }) => {
        await store.transaction(async (trx) => {
          const admins = await users.lockAdmins(trx);
          const user = await users.find(params.id, trx);
          if (user === undefined) throw notFound(params.id);
          if (user.role === "admin" && admins <= 1) throw lastAdmin(`remove "${user.username}"`);
          await users.remove(user.id, trx);
          const { changed } = await apiTokens.restrictIssuedBy(user.id, "revoke", trx);
          if (changed.length > 0) deps.log.info({ username: user.username, tokens: changed }, "user removed: their API tokens revoked");
        });
      },
    }),
  ];
}
