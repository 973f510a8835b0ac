import { z } from "zod";
import type { RouteDefinition } from "./route-definition.js";

/** A JSON Schema / OpenAPI object, loosely typed. */
type Json = Record<string, unknown>;

/** The error body every failure answers with. */
export const errorBodySchema = z
  .object({
    code: z.string().describe("A catalogued error code, e.g. ACCOUNT_NOT_FOUND, CONFIG_INVALID, FORBIDDEN"),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).describe("For validation errors: `fields: [{ field, message }]`"),
    retryable: z.boolean(),
  })
  .meta({ id: "Error" });

/** Options for {@link buildOpenApiDocument}. */
export interface OpenApiOptions {
  version: string;
  /** Where the operations are mounted, e.g. `/api/v1`. */
  serverUrl: string;
}

/** Replace `#/$defs/X` with `#/components/schemas/X` and move the definitions into `components`. */
function hoist(schema: Json, components: Record<string, Json>): Json {
  const defs = (schema.$defs ?? {}) as Record<string, Json>;
  const { $schema: _s, $defs: _d, ...rest } = schema;
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === "$ref" && typeof v === "string" ? v.replace("#/$defs/", "#/components/schemas/") : rewrite(v)]));
    }
    return value;
  };
  for (const [id, def] of Object.entries(defs)) components[id] = rewrite(def) as Json;
  return rewrite(rest) as Json;
}

function jsonSchema(schema: z.ZodType, io: "input" | "output", components: Record<string, Json>): Json {
  const converted = z.toJSONSchema(schema, { io, unrepresentable: "any", reused: "inline" }) as Json;
  // A schema that is itself a named component becomes a reference to it.
  const id = z.globalRegistry.get(schema)?.id;
  const hoisted = hoist(converted, components);
  if (id !== undefined) {
    // zod may already have put the root under $defs and answered with a reference to it.
    if (hoisted.$ref !== `#/components/schemas/${id}`) components[id] = hoisted;
    return { $ref: `#/components/schemas/${id}` };
  }
  return hoisted;
}

function parameters(schema: z.ZodType | undefined, place: "path" | "query", components: Record<string, Json>): Json[] {
  if (schema === undefined) return [];
  const object = jsonSchema(schema, "input", components);
  const required = new Set((object.required ?? []) as string[]);
  return Object.entries((object.properties ?? {}) as Record<string, Json>).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: place, required: place === "path" || required.has(name), ...(description === undefined ? {} : { description }), schema: rest };
  });
}

/**
 * The OpenAPI 3.1 document of `routes`, built from the same zod schemas that
 * validate requests and shape responses. Every operation declares its
 * `security` and its `x-inbound-role` (admin | viewer | public).
 *
 * @example
 * ```ts
 * const document = buildOpenApiDocument(routes, { version: "0.1.0", serverUrl: "/api/v1" });
 * ```
 */
export function buildOpenApiDocument(routes: readonly RouteDefinition[], options: OpenApiOptions): Json {
  const components: Record<string, Json> = {};
  const errorRef = jsonSchema(errorBodySchema, "output", components);
  const errorResponse = (description: string) => ({ description, content: { "application/json": { schema: errorRef } } });
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const responses: Record<string, Json> = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      const content = spec.schema
        ? { "application/json": { schema: jsonSchema(spec.schema, "output", components) } }
        : spec.contentType
          ? { [spec.contentType]: { schema: { type: "string", ...(spec.contentType.startsWith("text/") && spec.contentType !== "text/event-stream" ? {} : { format: "binary" }) } } }
          : undefined;
      responses[status] = { description: spec.description, ...(content ? { content } : {}) };
    }
    if (route.params || route.query || route.body) responses["400"] ??= errorResponse("The request does not match the schema (REQUEST_INVALID, CONFIG_INVALID); `details.fields` names each field");
    if (route.access !== "public") responses["401"] ??= errorResponse("No or invalid credentials (UNAUTHENTICATED)");
    if (route.access !== "public") responses["403"] ??= errorResponse(route.access === "admin" ? "Not an admin (FORBIDDEN), or a browser request without its CSRF token (CSRF_TOKEN_INVALID)" : "A browser request without its CSRF token (CSRF_TOKEN_INVALID)");
    responses.default = errorResponse("Any other error, with its catalogued code");
    const operation: Json = {
      operationId: route.operationId,
      tags: [route.tag],
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      security: route.access === "public" ? [] : [{ bearerToken: [] }, { sessionCookie: [] }],
      "x-inbound-role": route.access,
      parameters: [...parameters(route.params, "path", components), ...parameters(route.query, "query", components)],
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: Object.fromEntries(["application/json", ...(route.bodyContentTypes ?? [])].map((type) => [type, { schema: jsonSchema(route.body!, "input", components) }])),
            },
          }
        : {}),
      responses,
    };
    (paths[route.path] ??= {})[route.method.toLowerCase()] = operation;
  }
  const sortedComponents = Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b)));
  return {
    openapi: "3.1.0",
    info: {
      title: "Inbound API",
      version: options.version,
      description:
        "Accounts, stored messages and attachments, deliveries and access control of an Inbound service. " +
        "Scripts send `Authorization: Bearer <token>`; the admin page signs in with POST /session and sends the session's CSRF token in `X-CSRF-Token` on every POST, PUT, PATCH and DELETE. " +
        "`x-inbound-role` on each operation names the least role it needs (admin > viewer). Errors are `{code, message, details, retryable}`.",
    },
    servers: [{ url: options.serverUrl }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearerToken: { type: "http", scheme: "bearer", description: "An API token from POST /tokens (shown once)." },
        sessionCookie: { type: "apiKey", in: "cookie", name: "inbound_session", description: "Set by POST /session; unsafe methods also need the X-CSRF-Token header." },
      },
      schemas: sortedComponents,
    },
  };
}
