/**
 * inbound-mail: incoming email for TypeScript applications.
 *
 * Importing this module starts nothing; call {@link createInbound}.
 *
 * @example
 * ```ts
 * import { createInbound } from "inbound-mail";
 * const inbound = await createInbound({ dataDir: "./data" });
 * await inbound.fetch("support");
 * await inbound.close();
 * ```
 */
export { createInbound, type Inbound, type InboundOptions, type Account, type AccountTestResult } from "./inbound.js";
export { sanitizeHtml } from "./mime/sanitize-html.js";
export { parseMessage, type ParsedMessage, type ParseOptions } from "./mime/parse-message.js";
export { InboundError, isInboundError, type InboundErrorOptions } from "./core/inbound-error.js";
export { ERROR_CODES, type ErrorCode } from "./core/error-codes.js";
export { parseAccountSettings, updateAccountSettings, defaultPort, type AccountInput, type AccountSettings, type Protocol, type Security, type AfterAction, type FieldProblem } from "./core/account-settings.js";
export { createLogger, type Logger } from "./core/logger.js";
export { retrieveAccount, type RetrievalSummary, type RetrievalProgress, type RetrieveOptions } from "./retrieval/retrieve-account.js";
export { createStore, type Store, type StoreOptions } from "./store/store.js";
export type { MessageRecord, MessageSummary, MessagePage, AttachmentRecord, ListMessagesOptions } from "./store/message-repository.js";
export { openImapSession, ImapSession, type ImapSessionOptions, type ImapFolder } from "./protocols/imap/imap-session.js";
export { createDeliveryService, type DeliveryService, type DeliveryServiceOptions, type DeliveryStats, type MessageHandler, type EventHandler, type CreatedWebhook, type WebhookTestResult } from "./delivery/delivery-service.js";
export type { DeliveryEvent, HandlerContext, HandlerOptions, Unsubscribe } from "./delivery/delivery-event.js";
export type { ReceivedMessage } from "./delivery/received-message.js";
export type { WebhookBody, WebhookMessage, WebhookAttachment } from "./delivery/webhook-payload.js";
export { signWebhook, verifyWebhookSignature, type VerifyWebhookOptions } from "./delivery/webhook-signature.js";
export { EVENT_TYPES, type WebhookInput, type WebhookUpdate } from "./delivery/webhook-settings.js";
export type { RetryPolicy } from "./delivery/retry-policy.js";
export type { WebhookRecord } from "./store/webhook-repository.js";
export type { DeliveryRecord, DeliveryPage, ListDeliveriesOptions } from "./store/delivery-repository.js";
