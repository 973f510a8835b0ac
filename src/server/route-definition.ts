import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { Principal } from "./auth/request-authenticator.js";

/** Who may call an operation: `viewer` (reads; admins too), `admin`, or `public` (sign-in only). */
export type Access = "admin" | "viewer" | "public";

/** One documented answer of an operation. */
export interface ResponseSpec {
  description: string;
  /** JSON body schema; the handler's result is parsed through it, so fields it does not name never leave. */
  schema?: z.ZodType;
  /** Non-JSON body, e.g. `message/rfc822` or `text/event-stream`. */
  contentType?: string;
}

/** What a handler gets: validated params, query and body, and the caller. */
export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Always set, except on `public` routes without credentials. */
  principal: Principal;
  request: FastifyRequest;
  reply: FastifyReply;
}

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

/**
 * One API operation: the schemas are both the validation and the OpenAPI
 * document. A handler returns the JSON body of its success response, or
 * `reply` itself after sending something else (a stream, a file).
 */
export interface RouteSpec<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined> {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** OpenAPI path under `/api/v1`, `{name}` for parameters. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * The body is documented by `body` but validated by the handler (e.g. the
   * facade's own account validation with its cross-field rules).
   */
  bodyValidatedByHandler?: boolean;
  /** Extra request content types besides JSON (sign-in accepts a form). */
  bodyContentTypes?: string[];
  responses: Record<number, ResponseSpec>;
  handler(context: RouteContext<Out<P>, Out<Q>, Out<B>>): Promise<unknown>;
}

/** A route with its types erased, as the registrar and the OpenAPI builder see it. */
export type RouteDefinition = RouteSpec<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>;

/**
 * Declare an operation with its handler typed from its schemas.
 *
 * @example
 * ```ts
 * export const getUser = defineRoute({
 *   method: "GET", path: "/users/{id}", operationId: "getUser", tag: "users", summary: "One user",
 *   access: "admin", params: z.object({ id: z.string() }),
 *   responses: { 200: { description: "The user", schema: userSchema } },
 *   handler: async ({ params }) => users.find(params.id),
 * });
 * ```
 */
export function defineRoute<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  spec: RouteSpec<P, Q, B>,
): RouteDefinition {
  return spec as unknown as RouteDefinition;
}
