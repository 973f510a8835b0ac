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
  const { users } = deps.inbound.store;
  const mustFind = async (id: string) => {
    const user = await users.find(id);
    if (user === undefined) throw new ApiError("USER_NOT_FOUND", { message: `No user has the id "${id}".` });
    return user;
  };
  const keepAnAdmin = async (action: string) => {
    if ((await users.countByRole("admin")) <= 1) throw new ApiError("LAST_ADMIN", { message: `Cannot ${action}: it is the only admin. Make another user admin first.` });
  };

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
      description: "Either change signs the user out everywhere.",
      params: idParams, body: userPatch,
      responses: { 200: { description: "The user after the change", schema: userSchema } },
      handler: async ({ params, body }) => {
        const user = await mustFind(params.id);
        if (user.role === "admin" && body.role === "viewer") await keepAnAdmin(`make "${user.username}" a viewer`);
        const updated = await users.update(user.id, { role: body.role, passwordHash: body.password === undefined ? undefined : await hashPassword(body.password) });
        if (updated === undefined) throw new ApiError("USER_NOT_FOUND", { message: `No user has the id "${params.id}".` });
        if (body.role !== undefined || body.password !== undefined) await users.deleteSessionsOf(user.id);
        return updated;
      },
    }),
    defineRoute({
      method: "DELETE", path: "/users/{id}", operationId: "deleteUser", tag: "users", summary: "Remove a user (and their sessions)", access: "admin",
      params: idParams,
      responses: { 204: { description: "Removed" } },
      handler: async ({ params }) => {
        const user = await mustFind(params.id);
        if (user.role === "admin") await keepAnAdmin(`remove "${user.username}"`);
        await users.remove(user.id);
      },
    }),
  ];
}
