import { z } from "zod";
import { ApiError } from "../api-error.js";
import { idParams, pageOf, pageQuery, queryBoolean, timestamp } from "../api-schemas.js";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";
import type { DeliveryService } from "../services.js";

const statusSchema = z.enum(["pending", "retrying", "succeeded", "parked"]);

/** One event owed to one consumer. */
export const deliverySchema = z
  .object({
    id: z.string(),
    consumer: z.string().describe("`webhook:<id>` or `handler:<name>`"),
    eventId: z.string(),
    eventType: z.string(),
    accountId: z.string().nullable(),
    status: statusSchema,
    attempts: z.number().int(),
    nextAttemptAt: timestamp.nullable(),
    lastError: z.string().nullable(),
    lastStatus: z.number().int().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    completedAt: timestamp.nullable(),
  })
  .meta({ id: "Delivery" });

/** Deliveries: list (filter failed), inspect, replay; delegated to the delivery layer's {@link DeliveryService}. */
export function deliveryRoutes(deps: RouteDeps): RouteDefinition[] {
  const service = (): DeliveryService => {
    if (!deps.deliveries) throw new ApiError("NOT_IMPLEMENTED", { message: "Deliveries are not available: this server was started without a delivery service." });
    return deps.deliveries;
  };
  return [
    defineRoute({
      method: "GET", path: "/deliveries", operationId: "listDeliveries", tag: "deliveries", summary: "List deliveries, newest first", access: "viewer",
      query: z.object({
        failed: queryBoolean.optional().describe("Only those that failed and are not done (retrying, parked)"),
        status: statusSchema.optional(),
        account: z.string().max(200).optional().describe("Account name or id"),
        consumer: z.string().max(300).optional(),
        ...pageQuery,
      }),
      responses: { 200: { description: "A page of deliveries", schema: pageOf(deliverySchema, "DeliveryPage") } },
      handler: async ({ query }) => {
        const { account, ...rest } = query;
        const accountId = account === undefined ? undefined : (await deps.inbound.getAccount(account)).id;
        return service().listDeliveries({ ...rest, accountId });
      },
    }),
    defineRoute({
      method: "GET", path: "/deliveries/{id}", operationId: "getDelivery", tag: "deliveries", summary: "One delivery", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The delivery", schema: deliverySchema } },
      handler: async ({ params }) => service().getDelivery(params.id),
    }),
    defineRoute({
      method: "POST", path: "/deliveries/{id}/replay", operationId: "replayDelivery", tag: "deliveries", summary: "Deliver again now (same event id)", access: "admin",
      params: idParams,
      responses: { 200: { description: "The delivery, queued again", schema: deliverySchema } },
      handler: async ({ params }) => service().replayDelivery(params.id),
    }),
  ];
}
