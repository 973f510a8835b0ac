import { z } from "zod";
import { ApiError } from "../api-error.js";
import { idParams, roleSchema, timestamp } from "../api-schemas.js";
import { newSecretToken, sha256Hex } from "../auth/secret-token.js";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";

/** An API token as listed: never the token. */
export const tokenSchema = z
  .object({ id: z.string(), name: z.string(), role: roleSchema, createdBy: z.string().nullable(), createdAt: timestamp, lastUsedAt: timestamp.nullable(), revokedAt: timestamp.nullable() })
  .meta({ id: "ApiToken" });

const createdTokenSchema = tokenSchema.extend({ token: z.string().describe("The bearer token. Shown this once; only its SHA-256 is stored.") }).meta({ id: "CreatedApiToken" });

const tokenInput = z.object({ name: z.string().min(1, "must not be empty").max(100, "must be at most 100 characters"), role: roleSchema.default("viewer") }).strict().meta({ id: "ApiTokenInput" });

/** API tokens (admin only): create (shown once), list, revoke. */
export function tokenRoutes(deps: RouteDeps): RouteDefinition[] {
  const { store } = deps.inbound;
  const { apiTokens } = store;
  return [
    defineRoute({
      method: "GET", path: "/tokens", operationId: "listTokens", tag: "tokens", summary: "List API tokens (revoked ones too)", access: "admin",
      responses: { 200: { description: "Tokens, newest first", schema: z.object({ items: z.array(tokenSchema) }) } },
      handler: async () => ({ items: await apiTokens.list() }),
    }),
    defineRoute({
      method: "POST", path: "/tokens", operationId: "createToken", tag: "tokens", summary: "Create an API token", access: "admin",
      body: tokenInput,
      responses: { 201: { description: "The token, shown this once", schema: createdTokenSchema } },
      handler: async ({ body, principal }) => {
        const token = newSecretToken("inb_");
        const record = await apiTokens.create({ name: body.name, role: body.role, tokenHash: sha256Hex(token), createdBy: principal.user?.id ?? (principal.tokenId ? `token:${principal.tokenId}` : null) });
        return { ...record, token };
      },
    }),
    defineRoute({
      method: "DELETE", path: "/tokens/{id}", operationId: "revokeToken", tag: "tokens", summary: "Revoke an API token", access: "admin",
      params: idParams,
      description: "Tokens created with this token are revoked with it.",
      responses: { 204: { description: "Revoked; it stops working at once" } },
      handler: async ({ params }) => {
        await store.transaction(async (trx) => {
          const { revoked } = await apiTokens.revoke(params.id, trx);
          if (!revoked) throw new ApiError("TOKEN_NOT_FOUND", { message: `No live API token has the id "${params.id}"; list them with GET /api/v1/tokens.` });
          await apiTokens.restrictIssuedBy(`token:${params.id}`, "revoke", trx);
        });
      },
    }),
  ];
}
