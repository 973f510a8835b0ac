import { z } from "zod";
import { WEBHOOK_SECRET_MAX_LENGTH, WEBHOOK_SECRET_MIN_LENGTH } from "../../delivery/webhook-settings.js";
import { ApiError } from "../api-error.js";
import { idParams, timestamp } from "../api-schemas.js";
import { defineRoute, type RouteDefinition } from "../route-definition.js";
import type { RouteDeps } from "../route-deps.js";
import type { WebhookService } from "../services.js";

/** A webhook target as returned: never its secret. */
export const webhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()).describe('Event types it receives; ["*"] for all'),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabledReason: z.string().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: "Webhook" });

/** The answer to creating a webhook: the only time its secret is shown. */
const createdWebhookSchema = webhookSchema
  .extend({ secret: z.string().describe("The signing secret, shown this once: store it in the receiver to verify Inbound-Signature.") })
  .meta({ id: "CreatedWebhook" });

const webhookFields = {
  url: z.url({ protocol: /^https?$/, message: "must be an http(s) URL" }),
  events: z.array(z.string().min(1)).min(1, "must name at least one event type").optional(),
  secret: z.string().min(WEBHOOK_SECRET_MIN_LENGTH, `must be at least ${WEBHOOK_SECRET_MIN_LENGTH} characters`).max(WEBHOOK_SECRET_MAX_LENGTH, `must be at most ${WEBHOOK_SECRET_MAX_LENGTH} characters`).optional().describe("Signs the payloads (HMAC-SHA256); write-only. Omitted: generated."),
  description: z.string().max(500).nullable().optional(),
  enabled: z.boolean().optional(),
};
const webhookInput = z.object(webhookFields).strict().meta({ id: "WebhookInput" });
const webhookPatch = z.object(webhookFields).partial().strict().meta({ id: "WebhookPatch" });

const testResultSchema = z
  .object({ ok: z.boolean(), status: z.number().int().nullable(), durationMs: z.number(), error: z.string().nullable() })
  .meta({ id: "WebhookTestResult" });

/** Webhook targets: CRUD and a test send, delegated to the delivery layer's {@link WebhookService}. */
export function webhookRoutes(deps: RouteDeps): RouteDefinition[] {
  const service = (): WebhookService => {
    if (!deps.webhooks) throw new ApiError("NOT_IMPLEMENTED", { message: "Webhooks are not available: this server was started without a webhook service." });
    return deps.webhooks;
  };
  return [
    defineRoute({
      method: "GET", path: "/webhooks", operationId: "listWebhooks", tag: "webhooks", summary: "List webhook targets", access: "viewer",
      responses: { 200: { description: "Webhooks", schema: z.object({ items: z.array(webhookSchema) }) } },
      handler: async () => ({ items: await service().listWebhooks() }),
    }),
    defineRoute({
      method: "POST", path: "/webhooks", operationId: "createWebhook", tag: "webhooks", summary: "Add a webhook target", access: "admin",
      body: webhookInput,
      responses: { 201: { description: "The new webhook, with its secret shown once", schema: createdWebhookSchema } },
      handler: async ({ body }) => service().createWebhook(body),
    }),
    defineRoute({
      method: "GET", path: "/webhooks/{id}", operationId: "getWebhook", tag: "webhooks", summary: "One webhook target", access: "viewer",
      params: idParams,
      responses: { 200: { description: "The webhook", schema: webhookSchema } },
      handler: async ({ params }) => service().getWebhook(params.id),
    }),
    defineRoute({
      method: "PATCH", path: "/webhooks/{id}", operationId: "updateWebhook", tag: "webhooks", summary: "Change a webhook target", access: "admin",
      params: idParams, body: webhookPatch,
      responses: { 200: { description: "The webhook after the change", schema: webhookSchema } },
      handler: async ({ params, body }) => service().updateWebhook(params.id, body),
    }),
    defineRoute({
      method: "DELETE", path: "/webhooks/{id}", operationId: "deleteWebhook", tag: "webhooks", summary: "Remove a webhook target", access: "admin",
      params: idParams,
      responses: { 204: { description: "Removed" } },
      handler: async ({ params }) => {
        await service().removeWebhook(params.id);
      },
    }),
    defineRoute({
      method: "POST", path: "/webhooks/{id}/test", operationId: "testWebhook", tag: "webhooks", summary: "Send a signed test event now", access: "admin",
      params: idParams,
      responses: { 200: { description: "What the target answered", schema: testResultSchema } },
      handler: async ({ params }) => service().testWebhook(params.id),
    }),
  ];
}
