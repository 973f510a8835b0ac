import { ApiProblem } from "../api-client";
import type { Webhook, WebhookTestResult } from "../api-types";
import type { AppContext, View } from "../app-context";
import { confirmDialog } from "../confirm-dialog";
import { h, replaceChildren } from "../dom";
import { formField, showFieldProblems } from "../form-field";
import { formatDate } from "../format";
import { whatFailed } from "../plain-words";

const enc = encodeURIComponent;

/** Event types a webhook can receive (src/delivery/webhook-settings.ts). */
const EVENT_TYPES = ["message.received", "mailbox.reset", "account.state_changed", "retrieval.completed", "retrieval.failed"];

/** Webhook targets: list, add, test send, delete. */
export function webhooksView(ctx: AppContext): View {
  const { api, isAdmin } = ctx;
  const notice = h("div", { class: "notice", role: "status", "aria-live": "polite", hidden: true });
  const body = h("tbody");
  const table = h(
    "table",
    { class: "data-table webhooks-table" },
    h("caption", { class: "visually-hidden" }, "Webhook targets"),
    h("thead", null, h("tr", null, ["URL", "Events", "Status", "Added", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    body,
  );
  const empty = h("p", { class: "empty", hidden: true }, "No webhooks yet.");

  const url = formField({ name: "url", label: "URL", control: h("input", { type: "url", required: true, placeholder: "https://app.example.com/hooks/inbound", autocomplete: "off" }) });
  const description = formField({ name: "description", label: "Description (optional)", control: h("input", { type: "text", autocomplete: "off" }) });
  const secret = formField({ name: "secret", label: "Signing secret (optional)", control: h("input", { type: "password", autocomplete: "new-password" }), hint: "At least 16 characters; empty: one is generated. Never shown again." });
  const all = h("input", { type: "checkbox", id: "wh-all", checked: true });
  const boxes = EVENT_TYPES.map((type) => h("input", { type: "checkbox", value: type, id: `wh-${type}`, name: "events" }));
  const eventsError = h("p", { class: "field-error", id: "wh-events-error", hidden: true });
  const eventsField = h(
    "fieldset",
    { class: "field events-field", "aria-describedby": "wh-events-error" },
    h("legend", null, "Events"),
    h("div", { class: "field-row" }, all, h("label", { for: "wh-all" }, "All events")),
    boxes.map((box) => h("div", { class: "field-row" }, box, h("label", { for: box.id }, box.value))),
    eventsError,
  );
  const syncBoxes = () => boxes.forEach((b) => (b.disabled = all.checked));
  all.addEventListener("change", syncBoxes);
  syncBoxes();
  const fields = [url, description, secret];
  const formStatus = h("p", { class: "notice notice-error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "webhook-form card", novalidate: true, "aria-labelledby": "wh-add-title", onsubmit: (e: SubmitEvent) => void add(e) },
    h("h2", { id: "wh-add-title" }, "Add a webhook"),
    url.element,
    eventsField,
    description.element,
    secret.element,
    formStatus,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button primary" }, "Add webhook")),
  );

  const element = h(
    "section",
    { class: "webhooks-view" },
    h("div", { class: "view-header" }, h("h1", { tabindex: "-1" }, "Webhooks"), h("a", { class: "button", href: "/deliveries" }, "Deliveries")),
    h("p", { class: "lede" }, "Inbound posts each event as signed JSON (HMAC-SHA256) to every enabled target, retrying failures with backoff."),
    notice,
    h("div", { class: "table-wrap" }, table),
    empty,
    isAdmin ? form : null,
  );

  function say(text: string, tone: "ok" | "error" | "info" = "info"): void {
    notice.hidden = false;
    notice.className = `notice notice-${tone}`;
    notice.textContent = text;
  }

  function row(webhook: Webhook): HTMLTableRowElement {
    const test = h("button", { type: "button", class: "button small", "aria-label": `Test ${webhook.url}`, onclick: () => void testSend(webhook) }, "Test");
    const remove = h("button", { type: "button", class: "button small danger", "aria-label": `Delete ${webhook.url}`, onclick: () => void removeWebhook(webhook) }, "Delete");
    return h(
      "tr",
      null,
      h("td", { "data-label": "URL" }, h("span", { class: "url" }, webhook.url), webhook.description ? h("span", { class: "meta" }, webhook.description) : null),
      h("td", { "data-label": "Events" }, webhook.events.includes("*") ? "all" : webhook.events.join(", ")),
      h("td", { "data-label": "Status" }, webhook.enabled ? h("span", { class: "badge badge-ok" }, "enabled") : h("span", { class: "badge badge-error" }, `disabled${webhook.disabledReason ? `: ${webhook.disabledReason}` : ""}`)),
      h("td", { "data-label": "Added" }, formatDate(webhook.createdAt)),
      h("td", { "data-label": "Actions" }, isAdmin ? h("div", { class: "row-actions" }, test, remove) : null),
    );
  }

  async function load(): Promise<void> {
    try {
      const { items } = await api.get<{ items: Webhook[] }>("/webhooks");
      replaceChildren(body, items.map(row));
      table.hidden = items.length === 0;
      empty.hidden = items.length > 0;
    } catch (error) {
      table.hidden = true;
      say(error instanceof ApiProblem && error.code === "NOT_IMPLEMENTED" ? "Webhooks are not available: this server runs without the delivery service." : String(error instanceof Error ? error.message : error), "error");
      form.hidden = true;
    }
  }

  async function add(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    formStatus.hidden = true;
    eventsError.hidden = true;
    const events = all.checked ? ["*"] : boxes.filter((b) => b.checked).map((b) => b.value);
    const input: Record<string, unknown> = { url: url.control.value.trim(), events };
    if (description.control.value.trim()) input.description = description.control.value.trim();
    if (secret.control.value) input.secret = secret.control.value;
    try {
      const created = await api.post<Webhook>("/webhooks", input);
      showFieldProblems(fields, []);
      form.reset();
      all.checked = true;
      syncBoxes();
      say(`Webhook added: ${created.url}`, "ok");
      await load();
    } catch (error) {
      if (error instanceof ApiProblem) {
        const rest = showFieldProblems(fields, error.fields);
        const eventsProblem = rest.find((p) => p.field.startsWith("events"));
        if (eventsProblem) {
          eventsError.hidden = false;
          eventsError.textContent = `Events ${eventsProblem.message}`;
        }
        formStatus.hidden = false;
        formStatus.textContent = error.fields.length ? "Please correct the fields marked below." : error.message;
      } else {
        formStatus.hidden = false;
        formStatus.textContent = String(error);
      }
    }
  }

  async function testSend(webhook: Webhook): Promise<void> {
    say(`Sending a test event to ${webhook.url}…`);
    try {
      const result = await api.post<WebhookTestResult>(`/webhooks/${enc(webhook.id)}/test`);
      if (result.ok) say(`${webhook.url} answered ${result.status} in ${Math.round(result.durationMs)} ms.`, "ok");
      else say(`${webhook.url} failed: ${result.error ?? (result.status ? `it answered ${result.status}` : "no answer")}.`, "error");
    } catch (error) {
      say(error instanceof ApiProblem ? whatFailed(error.code, error.message) : String(error), "error");
    }
  }

  async function removeWebhook(webhook: Webhook): Promise<void> {
    if (!(await confirmDialog({ title: "Delete this webhook?", body: `Inbound stops sending events to ${webhook.url}. Deliveries not yet made to it are dropped.`, confirmLabel: "Delete webhook" }))) return;
    try {
      await api.delete(`/webhooks/${enc(webhook.id)}`);
      say(`Webhook deleted: ${webhook.url}`, "ok");
      await load();
    } catch (error) {
      say(error instanceof Error ? error.message : String(error), "error");
    }
  }

  void load();
  return { title: "Webhooks", element };
}
