import { ApiProblem } from "../api-client";
import type { Delivery, Page } from "../api-types";
import type { AppContext, View } from "../app-context";
import { h, replaceChildren } from "../dom";
import { formatDate } from "../format";
import { select } from "../form-field";

const enc = encodeURIComponent;

const TONE: Record<Delivery["status"], string> = { pending: "busy", retrying: "warn", succeeded: "ok", parked: "error" };

/** Recent deliveries with their status; failed ones can be replayed. */
export function deliveriesView(ctx: AppContext, query: URLSearchParams): View {
  const { api, isAdmin } = ctx;
  const notice = h("div", { class: "notice", role: "status", "aria-live": "polite", hidden: true });
  const filterId = "deliveries-filter";
  const filter = select(
    [
      ["", "All recent"],
      ["failed", "Failed (retrying or parked)"],
      ["parked", "Parked"],
      ["succeeded", "Succeeded"],
      ["pending", "Pending"],
    ],
    query.get("show") ?? "",
  );
  filter.id = filterId;
  const body = h("tbody");
  const table = h(
    "table",
    { class: "data-table deliveries-table" },
    h("caption", { class: "visually-hidden" }, "Deliveries, newest first"),
    h("thead", null, h("tr", null, ["Event", "To", "Status", "Attempts", "Last error", "Updated", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    body,
  );
  const more = h("button", { type: "button", class: "button", hidden: true, onclick: () => void load(true) }, "Show older");
  const empty = h("p", { class: "empty", hidden: true }, "No deliveries.");
  const element = h(
    "section",
    { class: "deliveries-view" },
    h("div", { class: "view-header" }, h("h1", { tabindex: "-1" }, "Deliveries"), h("a", { class: "button", href: "/webhooks" }, "Webhooks")),
    h("div", { class: "toolbar" }, h("label", { for: filterId }, "Show"), filter, h("button", { type: "button", class: "button small", onclick: () => void load() }, "Refresh")),
    notice,
    h("div", { class: "table-wrap" }, table),
    empty,
    more,
  );

  let cursor: string | null = null;

  function say(text: string, tone: "ok" | "error" | "info" = "info"): void {
    notice.hidden = false;
    notice.className = `notice notice-${tone}`;
    notice.textContent = text;
  }

  function row(delivery: Delivery): HTMLTableRowElement {
    const failed = delivery.status === "parked" || delivery.status === "retrying";
    const replay = isAdmin && failed ? h("button", { type: "button", class: "button small", "aria-label": `Replay ${delivery.eventType} to ${delivery.consumer}`, onclick: () => void replayOne(delivery) }, "Replay") : null;
    return h(
      "tr",
      { "data-delivery": delivery.id },
      h("td", { "data-label": "Event" }, delivery.eventType),
      h("td", { "data-label": "To" }, delivery.consumer),
      h("td", { "data-label": "Status" }, h("span", { class: `badge badge-${TONE[delivery.status]}` }, delivery.status), delivery.status === "retrying" && delivery.nextAttemptAt ? h("span", { class: "meta" }, ` next ${formatDate(delivery.nextAttemptAt)}`) : null),
      h("td", { "data-label": "Attempts" }, String(delivery.attempts)),
      h("td", { "data-label": "Last error" }, delivery.lastError ? `${delivery.lastStatus ? `${delivery.lastStatus}: ` : ""}${delivery.lastError}` : "—"),
      h("td", { "data-label": "Updated" }, formatDate(delivery.updatedAt)),
      h("td", { "data-label": "Actions" }, replay ?? ""),
    );
  }

  async function load(append = false): Promise<void> {
    const show = filter.value;
    try {
      const page = await api.get<Page<Delivery>>("/deliveries", {
        failed: show === "failed" ? true : undefined,
        status: show && show !== "failed" ? show : undefined,
        limit: 50,
        cursor: append ? cursor : undefined,
      });
      cursor = page.nextCursor;
      if (append) body.append(...page.items.map(row));
      else replaceChildren(body, page.items.map(row));
      const none = body.childElementCount === 0;
      table.hidden = none;
      empty.hidden = !none;
      more.hidden = cursor === null;
    } catch (error) {
      table.hidden = true;
      say(error instanceof ApiProblem && error.code === "NOT_IMPLEMENTED" ? "Deliveries are not available: this server runs without the delivery service." : error instanceof Error ? error.message : String(error), "error");
    }
  }

  async function replayOne(delivery: Delivery): Promise<void> {
    try {
      const queued = await api.post<Delivery>(`/deliveries/${enc(delivery.id)}/replay`);
      say(`${delivery.eventType} to ${delivery.consumer} queued again (${queued.status}).`, "ok");
      await load();
    } catch (error) {
      say(error instanceof Error ? error.message : String(error), "error");
    }
  }

  filter.addEventListener("change", () => {
    history.replaceState(null, "", filter.value ? `/deliveries?show=${enc(filter.value)}` : "/deliveries");
    void load();
  });
  void load();
  return { title: "Deliveries", element };
}
