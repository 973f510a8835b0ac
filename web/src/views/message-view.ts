import { API } from "../api-client";
import type { Account, Message } from "../api-types";
import type { AppContext, View } from "../app-context";
import { h, replaceChildren } from "../dom";
import { formatAddresses, formatDate, formatSize } from "../format";

const enc = encodeURIComponent;

/**
 * The sandbox of the HTML body frame: no `allow-scripts`, no
 * `allow-same-origin` (an opaque origin: no cookies, no DOM of the page);
 * links may open in a new tab, outside the sandbox.
 */
export const MESSAGE_FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox";

/** One message: headers, attachments, and the sanitized HTML in a sandboxed frame. */
export function messageView(ctx: AppContext, messageId: string): View {
  const { api } = ctx;
  const heading = h("h1", { tabindex: "-1" }, "Message");
  const back = h("a", { href: "/" }, "← Accounts");
  const content = h("div", { class: "message-content" }, h("p", { class: "loading" }, "Loading…"));
  const element = h("section", { class: "message-view" }, h("p", null, back), h("div", { class: "view-header" }, heading), content);

  function headerRow(label: string, value: string): HTMLElement[] {
    return [h("dt", null, label), h("dd", null, value)];
  }

  function body(message: Message): HTMLElement {
    if (!message.hasHtml) {
      return h("section", { class: "message-body", "aria-label": "Message body" }, h("pre", { class: "text-body" }, message.textBody ?? "(This message has no text.)"));
    }
    const source = (remote: boolean) => `${API}/messages/${enc(message.id)}/html${remote ? "?remoteImages=true" : ""}`;
    const frame = h("iframe", {
      class: "html-body",
      title: `Message body: ${message.subject ?? "no subject"}`,
      sandbox: MESSAGE_FRAME_SANDBOX,
      referrerpolicy: "no-referrer",
      loading: "eager",
      src: source(false),
    });
    const note = h("p", { class: "field-hint" }, "Remote images are blocked to protect your privacy.");
    const showImages = h(
      "button",
      {
        type: "button",
        class: "button small",
        "aria-pressed": "false",
        onclick: () => {
          const on = showImages.getAttribute("aria-pressed") !== "true";
          showImages.setAttribute("aria-pressed", String(on));
          showImages.textContent = on ? "Block images" : "Show images";
          note.textContent = on ? "Remote images are shown." : "Remote images are blocked to protect your privacy.";
          frame.src = source(on);
        },
      },
      "Show images",
    );
    const text = message.textBody ? h("details", { class: "text-alternative" }, h("summary", null, "Plain-text version"), h("pre", { class: "text-body" }, message.textBody)) : null;
    return h("section", { class: "message-body", "aria-label": "Message body" }, h("div", { class: "body-toolbar" }, note, showImages), frame, text);
  }

  function render(message: Message): void {
    heading.textContent = message.subject || "(no subject)";
    document.title = `${message.subject || "(no subject)"} · Inbound`;
    const headers = h(
      "dl",
      { class: "headers" },
      headerRow("From", formatAddresses(message.from)),
      headerRow("To", formatAddresses(message.to)),
      message.cc?.length ? headerRow("Cc", formatAddresses(message.cc)) : null,
      message.replyTo?.length ? headerRow("Reply-To", formatAddresses(message.replyTo)) : null,
      headerRow("Date", formatDate(message.sentDate ?? message.internalDate)),
      headerRow("Folder", message.folder ?? "INBOX"),
      headerRow("Size", formatSize(message.size)),
    );
    const allHeaders = message.headers?.length
      ? h("details", { class: "all-headers" }, h("summary", null, "All headers"), h("pre", null, message.headers.map((x) => x.line).join("\n")))
      : null;
    const inline = message.attachments.filter((a) => a.disposition === "inline" && a.contentId).length;
    const attachments = message.attachments.length
      ? h(
          "section",
          { class: "attachments", "aria-labelledby": "attachments-title" },
          h("h2", { id: "attachments-title" }, `Attachments (${message.attachments.length})`),
          h(
            "ul",
            null,
            message.attachments.map((a) => {
              const name = a.filename ?? `attachment-${a.position + 1}`;
              return h(
                "li",
                null,
                h("a", { href: `${API}/attachments/${enc(a.id)}/content`, download: name, "data-attachment": a.id }, name),
                h("span", { class: "meta" }, ` ${a.contentType}, ${formatSize(a.size)}${a.contentId && a.disposition === "inline" ? ", inline" : ""}`),
              );
            }),
          ),
          inline > 0 ? h("p", { class: "field-hint" }, `${inline} inline image(s) are shown in the body.`) : null,
        )
      : null;
    const problem = message.status === "failed" ? h("p", { class: "notice notice-error" }, `This message could not be parsed: ${message.parseError ?? "unknown error"}. Its raw bytes are kept.`) : null;
    replaceChildren(
      content,
      problem,
      headers,
      allHeaders,
      attachments,
      body(message),
      h("p", { class: "downloads" }, h("a", { href: `${API}/messages/${enc(message.id)}/raw`, download: `message-${message.id}.eml` }, "Download original (.eml)")),
    );
  }

  api
    .get<Message>(`/messages/${enc(messageId)}`)
    .then(async (message) => {
      render(message);
      back.setAttribute("href", `/accounts/${enc(message.accountId)}/messages`);
      back.textContent = "← Messages";
      try {
        const account = await api.get<Account>(`/accounts/${enc(message.accountId)}`);
        back.textContent = `← Messages of ${account.name}`;
      } catch {
        // The link works without the name.
      }
    })
    .catch((error: unknown) => replaceChildren(content, h("p", { class: "notice notice-error", role: "alert" }, error instanceof Error ? error.message : String(error))));

  return { title: "Message", element };
}
