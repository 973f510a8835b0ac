export { connectPop3, type Pop3Client, type Pop3ConnectOptions } from "./pop3-client.js";
export { RETR_PIPELINE_WINDOW, DELE_PIPELINE_WINDOW } from "./pop3-session.js";
export { Pop3ReplyError, isTransientResponseCode } from "./pop3-reply-error.js";
export type { Pop3Capabilities } from "./pop3-capabilities.js";
export type { RetrData, RetrRefusal } from "./commands/retr.js";
