import type { Account, MessageSummary, Page } from "../api-types";
import type { AppContext, View } from "../app-context";
import { h, replaceChildren } from "../dom";
import { formField } from "../form-field";
import { formatDate, formatSenders, formatSize } from "../format";

const enc = encodeURIComponent;
const PAGE_SIZE = 25;

/** One account's stored messages: search by subject and sender, paged newest first, new ones appear live. */
export function messagesView(ctx: AppContext, accountId: string, query: URLSearchParams): View {
  const { api } = ctx;
  const heading = h("h1", { tabindex: "-1" }, "Messages");
  const subject = formField({ name: "subject", label: "Subject contains", control: h("input", { type: "search", value: query.get("subject") ?? "" }) });
  const from = formField({ name: "from", label: "From contains", control: h("input", { type: "search", value: query.get("from") ?? "" }) });
  const status = h("p", { class: "list-status", role: "status", "aria-live": "polite" });
  const list = h("tbody");
  const table = h(
    "table",
    { class: "data-table messages-table" },
    h("caption", { class: "visually-hidden" }, "Stored messages, newest first"),
    h("thead", null, h("tr", null, ["From", "Subject", "Date", "Size"].map((t) => h("th", { scope: "col" }, t)))),
    list,
  );
  const newer = h("button", { type: "button", class: "button", onclick: () => void page(-1) }, "← Newer");
  const older = h("button", { type: "button", class: "button", onclick: () => void page(1) }, "Older →");
  const search = h(
    "form",
    {
      class: "search-form",
      role: "search",
      onsubmit: (event: SubmitEvent) => {
        event.preventDefault();
        cursors = [null];
        syncUrl();
        void load();
      },
    },
    subject.element,
    from.element,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "button primary" }, "Search"), h("button", { type: "button", class: "button", onclick: () => clear() }, "Clear")),
  );
  const element = h(
    "section",
    { class: "messages-view" },
    h("div", { class: "view-header" }, heading),
    h("p", null, h("a", { href: "/" }, "← Accounts")),
    search,
    status,
    h("div", { class: "table-wrap" }, table),
    h("nav", { class: "pager", "aria-label": "Pages" }, newer, older),
  );

  /** Cursors of the pages seen, first page `null`; the last one is shown. */
  let cursors: (string | null)[] = [query.get("cursor")];
  let nextCursor: string | null = null;
  let disposed = false;
  let account: Account | null = null;

  function syncUrl(): void {
    const params = new URLSearchParams();
    if (subject.control.value) params.set("subject", subject.control.value);
    if (from.control.value) params.set("from", from.control.value);
    const cursor = cursors[cursors.length - 1];
    if (cursor) params.set("cursor", cursor);
    const search = params.toString();
    history.replaceState(null, "", `/accounts/${enc(accountId)}/messages${search ? `?${search}` : ""}`);
  }

  function clear(): void {
    subject.control.value = "";
    from.control.value = "";
    cursors = [null];
    syncUrl();
    void load();
  }

  async function page(step: 1 | -1): Promise<void> {
    if (step === 1 && nextCursor) cursors.push(nextCursor);
    if (step === -1 && cursors.length > 1) cursors.pop();
    syncUrl();
    await load();
    list.querySelector<HTMLAnchorElement>("a")?.focus();
  }

  function row(message: MessageSummary, fresh: boolean): HTMLTableRowElement {
    return h(
      "tr",
      { class: fresh ? "fresh" : null, "data-message": message.id },
      h("td", { "data-label": "From" }, formatSenders(message.from)),
      h("td", { "data-label": "Subject" }, h("a", { href: `/messages/${enc(message.id)}` }, message.subject || "(no subject)"), message.status === "failed" ? h("span", { class: "badge badge-error" }, "unparsed") : null),
      h("td", { "data-label": "Date" }, formatDate(message.sentDate ?? message.internalDate ?? message.storedAt)),
      h("td", { "data-label": "Size" }, formatSize(message.size)),
    );
  }

  let shown = new Set<string>();
  async function load({ live = false } = {}): Promise<void> {
    const cursor = cursors[cursors.length - 1];
    try {
      const result = await api.get<Page<MessageSummary>>("/messages", { account: accountId, subject: subject.control.value.trim(), from: from.control.value.trim(), limit: PAGE_SIZE, cursor });
      if (disposed) return;
      nextCursor = result.nextCursor;
      const fresh = result.items.filter((m) => live && !shown.has(m.id));
      replaceChildren(list, result.items.map((m) => row(m, fresh.includes(m))));
      shown = new Set(result.items.map((m) => m.id));
      const filtered = subject.control.value.trim() !== "" || from.control.value.trim() !== "";
      status.textContent =
        result.items.length === 0
          ? filtered ? "No message matches." : "No messages stored yet."
          : live && fresh.length > 0
            ? `${fresh.length} new message(s).`
            : `Showing ${result.items.length} message(s)${cursors.length > 1 ? `, page ${cursors.length}` : ""}.`;
      table.hidden = result.items.length === 0;
      newer.disabled = cursors.length <= 1;
      older.disabled = nextCursor === null;
    } catch (error) {
      status.textContent = error instanceof Error ? error.message : String(error);
    }
  }

  let timer: number | undefined;
  const stopLive = ctx.live.subscribe((event) => {
    if (event.accountId !== (account?.id ?? accountId)) return;
    if (event.type !== "message.stored" && event.type !== "run.finished") return;
    // Only the first page changes; a later page stays put while reading.
    if (cursors.length > 1) return;
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void load({ live: true }), 200);
  });

  api
    .get<Account>(`/accounts/${enc(accountId)}`)
    .then((found) => {
      account = found;
      heading.textContent = `Messages of ${found.name}`;
      document.title = `${found.name} · Messages · Inbound`;
    })
    .catch(() => undefined);
  void load();

  return {
    title: "Messages",
    element,
    dispose() {
      disposed = true;
      stopLive();
      window.clearTimeout(timer);
    },
  };
}
