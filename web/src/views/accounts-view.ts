import { ApiProblem } from "../api-client";
import type { Account, AccountState, AccountTestResult, Run, RunProgress } from "../api-types";
import type { AppContext, View } from "../app-context";
import { stateLabel } from "../account-state-label";
import { confirmDialog } from "../confirm-dialog";
import { h, replaceChildren } from "../dom";
import { formatAgo, formatDate } from "../format";
import { whatFailed } from "../plain-words";

/** One row's live parts, updated in place so keyboard focus stays where it is. */
interface Row {
  account: Account;
  element: HTMLTableRowElement;
  state: HTMLElement;
  progress: HTMLProgressElement;
  lastRun: HTMLElement;
  count: HTMLElement;
  fetch: HTMLButtonElement | null;
  subscribe: HTMLButtonElement | null;
  test: HTMLButtonElement | null;
}

const enc = encodeURIComponent;

/** Accounts overview: every account with its live state and actions. */
export function accountsView(ctx: AppContext): View {
  const { api, isAdmin } = ctx;
  const notice = h("div", { class: "notice", role: "status", "aria-live": "polite", hidden: true });
  const body = h("tbody");
  const empty = h("p", { class: "empty", hidden: true }, "No accounts yet. ", isAdmin ? h("a", { href: "/accounts/new" }, "Add the first one") : null);
  const table = h(
    "table",
    { class: "data-table accounts-table" },
    h("caption", { class: "visually-hidden" }, "Mail accounts"),
    h("thead", null, h("tr", null, ["Name", "Protocol", "Host", "Folder", "State", "Last retrieval", "Messages", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
    body,
  );
  const element = h(
    "section",
    { class: "accounts-view" },
    h("div", { class: "view-header" }, h("h1", { tabindex: "-1" }, "Accounts"), isAdmin ? h("a", { class: "button primary", href: "/accounts/new" }, "Add account") : null),
    notice,
    h("div", { class: "table-wrap" }, table),
    empty,
  );

  const rows = new Map<string, Row>();
  const states = new Map<string, AccountState>();
  const runs = new Map<string, Run>();
  const pollers = new Map<string, number>();
  let disposed = false;

  function say(text: string, tone: "ok" | "error" | "info" = "info"): void {
    notice.hidden = false;
    notice.className = `notice notice-${tone}`;
    notice.textContent = text;
  }

  function paint(row: Row): void {
    const { account } = row;
    const run = runs.get(account.id) ?? null;
    const label = stateLabel(account, states.get(account.id) ?? null, run);
    row.state.textContent = label.text;
    row.state.className = `badge badge-${label.tone}`;
    const running = run?.status === "running";
    row.progress.hidden = !running;
    if (running && run.progress && run.progress.total > 0) {
      row.progress.max = run.progress.total;
      row.progress.value = run.progress.phase === "processing" || run.progress.phase === "done" ? run.progress.processed : run.progress.taken;
    } else {
      row.progress.removeAttribute("value");
    }
    row.lastRun.textContent = formatAgo(account.lastRunAt);
    row.lastRun.title = formatDate(account.lastRunAt);
    row.count.textContent = String(account.messageCount);
    if (row.fetch) {
      row.fetch.disabled = running;
      row.fetch.textContent = running ? "Fetching…" : "Fetch now";
    }
    if (row.subscribe) {
      const subscribed = states.get(account.id)?.subscription?.subscribed ?? false;
      row.subscribe.textContent = subscribed ? "Unsubscribe" : "Subscribe";
      row.subscribe.setAttribute("aria-pressed", String(subscribed));
      row.subscribe.disabled = states.get(account.id)?.subscription === null;
    }
  }

  function cell(label: string, ...children: (Node | string)[]): HTMLTableCellElement {
    return h("td", { "data-label": label }, ...children);
  }

  function buildRow(account: Account): Row {
    const state = h("span", { class: "badge" });
    const progress = h("progress", { class: "run-progress", hidden: true, "aria-label": `Fetch progress of ${account.name}` });
    const lastRun = h("span");
    const count = h("span");
    const button = (text: string, onclick: () => void, extra = "") => h("button", { type: "button", class: `button small ${extra}`, onclick, "aria-label": `${text} ${account.name}` }, text);
    const test = isAdmin ? button("Test", () => void testConnection(row)) : null;
    const fetchButton = isAdmin ? button("Fetch now", () => void fetchNow(row)) : null;
    const subscribe = isAdmin ? button("Subscribe", () => void toggleSubscription(row)) : null;
    if (fetchButton) fetchButton.setAttribute("aria-label", `Fetch now ${account.name}`);
    const actions = isAdmin
      ? h(
          "div",
          { class: "row-actions" },
          test,
          fetchButton,
          subscribe,
          h("a", { class: "button small", href: `/accounts/${enc(account.id)}/edit`, "aria-label": `Edit ${account.name}` }, "Edit"),
          button("Delete", () => void remove(row), "danger"),
        )
      : h("div", { class: "row-actions" }, h("a", { class: "button small", href: `/accounts/${enc(account.id)}/messages` }, "Messages"));
    const element = h(
      "tr",
      { "data-account": account.name },
      h("th", { scope: "row", "data-label": "Name" }, h("a", { href: `/accounts/${enc(account.id)}/messages` }, account.name)),
      cell("Protocol", account.protocol.toUpperCase()),
      cell("Host", `${account.host}:${account.port}`),
      cell("Folder", account.folder),
      cell("State", h("div", { class: "state-cell" }, state, progress)),
      cell("Last retrieval", lastRun),
      cell("Messages", h("a", { href: `/accounts/${enc(account.id)}/messages`, "aria-label": `Messages of ${account.name}` }, count)),
      cell("Actions", actions),
    );
    const row: Row = { account, element, state, progress, lastRun, count, fetch: fetchButton, subscribe, test };
    return row;
  }

  async function loadState(accountId: string): Promise<void> {
    try {
      const state = await api.get<AccountState>(`/accounts/${enc(accountId)}/state`);
      states.set(accountId, state);
      if (state.run) runs.set(accountId, state.run);
      const row = rows.get(accountId);
      if (row) {
        row.account = { ...row.account, state: state.state, stateDetail: state.stateDetail, lastRunAt: state.lastRunAt, lastError: state.lastError, enabled: state.enabled };
        paint(row);
      }
    } catch {
      // The row keeps what it had; the next event or reload tries again.
    }
  }

  async function loadAccount(accountId: string): Promise<void> {
    const row = rows.get(accountId);
    if (!row) return;
    try {
      row.account = await api.get<Account>(`/accounts/${enc(accountId)}`);
      paint(row);
    } catch {
      // As above.
    }
  }

  async function load(): Promise<void> {
    try {
      const { items } = await api.get<{ items: Account[] }>("/accounts");
      if (disposed) return;
      rows.clear();
      for (const account of items) rows.set(account.id, buildRow(account));
      replaceChildren(body, [...rows.values()].map((r) => r.element));
      for (const row of rows.values()) paint(row);
      empty.hidden = items.length > 0;
      table.hidden = items.length === 0;
      await Promise.all(items.map((a) => loadState(a.id)));
    } catch (error) {
      say(error instanceof Error ? error.message : String(error), "error");
    }
  }

  async function testConnection(row: Row): Promise<void> {
    const name = row.account.name;
    say(`Testing ${name}…`);
    if (row.test) row.test.disabled = true;
    try {
      const result = await api.post<AccountTestResult>(`/accounts/${enc(row.account.id)}/test`);
      if (result.ok) say(`${name}: connection works. ${result.summary}`, "ok");
      else say(`${name}: ${whatFailed(result.error?.code, result.summary)}`, "error");
    } catch (error) {
      say(`${name}: ${error instanceof ApiProblem ? whatFailed(error.code, error.message) : String(error)}`, "error");
    } finally {
      if (row.test) row.test.disabled = false;
    }
  }

  function followRun(run: Run): void {
    runs.set(run.accountId, run);
    const row = rows.get(run.accountId);
    if (row) paint(row);
    // Server-sent events carry the progress; polling covers a stream that is (re)connecting.
    if (pollers.has(run.id) || run.status !== "running") return;
    const timer = window.setInterval(async () => {
      try {
        const latest = await api.get<Run>(`/runs/${enc(run.id)}`);
        const current = runs.get(run.accountId);
        if (current?.id === run.id && current.status === "running") {
          if (latest.status !== "running") finished(latest);
          else followRun(latest);
        }
        if (latest.status !== "running") stopPolling(run.id);
      } catch {
        stopPolling(run.id);
      }
    }, 1000);
    pollers.set(run.id, timer);
  }

  function stopPolling(runId: string): void {
    const timer = pollers.get(runId);
    if (timer !== undefined) window.clearInterval(timer);
    pollers.delete(runId);
  }

  function finished(run: Run): void {
    const previous = runs.get(run.accountId);
    if (previous && previous.id === run.id && previous.status !== "running") return;
    runs.set(run.accountId, run);
    stopPolling(run.id);
    const name = rows.get(run.accountId)?.account.name ?? run.accountName;
    if (run.status === "succeeded" && run.summary) {
      const s = run.summary;
      say(`${name}: fetch finished — ${s.stored} new message(s) stored${s.duplicates ? `, ${s.duplicates} already stored` : ""}${s.parseErrors ? `, ${s.parseErrors} could not be parsed` : ""}.`, "ok");
    } else if (run.status === "failed") {
      say(`${name}: fetch failed. ${whatFailed(run.error?.code, run.error?.message)}`, "error");
    }
    void loadAccount(run.accountId);
  }

  async function fetchNow(row: Row): Promise<void> {
    try {
      const run = await api.post<Run>(`/accounts/${enc(row.account.id)}/fetch`);
      say(`${row.account.name}: fetching…`);
      followRun(run);
    } catch (error) {
      say(`${row.account.name}: ${error instanceof ApiProblem ? whatFailed(error.code, error.message) : String(error)}`, "error");
    }
  }

  async function toggleSubscription(row: Row): Promise<void> {
    const subscribed = states.get(row.account.id)?.subscription?.subscribed ?? false;
    if (row.subscribe) row.subscribe.disabled = true;
    try {
      const path = `/accounts/${enc(row.account.id)}/subscription`;
      if (subscribed) await api.delete(path);
      else await api.put(path);
      say(subscribed ? `${row.account.name}: unsubscribed.` : `${row.account.name}: subscribed; new mail is taken as it arrives.`, "ok");
    } catch (error) {
      say(`${row.account.name}: ${error instanceof ApiProblem ? whatFailed(error.code, error.message) : String(error)}`, "error");
    } finally {
      await loadState(row.account.id);
    }
  }

  async function remove(row: Row): Promise<void> {
    const { account } = row;
    const ok = await confirmDialog({
      title: `Delete ${account.name}?`,
      body: `This removes the account and the ${account.messageCount} message(s) stored for it, with their attachments. Mail on ${account.host} is not touched.`,
      confirmLabel: "Delete account",
    });
    if (!ok) {
      row.element.querySelector<HTMLButtonElement>("button.danger")?.focus();
      return;
    }
    try {
      await api.delete(`/accounts/${enc(account.id)}`);
      ctx.announce(`${account.name} deleted.`);
      say(`${account.name} deleted.`, "ok");
      await load();
      element.querySelector<HTMLElement>("h1")?.focus();
    } catch (error) {
      say(`${account.name}: ${error instanceof Error ? error.message : String(error)}`, "error");
    }
  }

  const stopLive = ctx.live.subscribe((event) => {
    const accountId = event.accountId;
    if (!accountId || !rows.has(accountId)) {
      if (event.type === "account.state" && accountId) void load();
      return;
    }
    const data = event.data as Record<string, unknown>;
    switch (event.type) {
      case "run.progress": {
        const current = runs.get(accountId);
        const runId = String(data.runId ?? "");
        if (current && current.id !== runId && current.status === "running") return;
        const base: Run = current && current.id === runId ? current : { id: runId, accountId, accountName: rows.get(accountId)!.account.name, status: "running", progress: null, summary: null, error: null, startedAt: event.at, finishedAt: null };
        if (base.status !== "running") return;
        base.progress = { phase: data.phase as RunProgress["phase"], total: Number(data.total ?? 0), taken: Number(data.taken ?? 0), processed: Number(data.processed ?? 0) };
        runs.set(accountId, base);
        paint(rows.get(accountId)!);
        break;
      }
      case "run.finished": {
        const current = runs.get(accountId);
        const run: Run = {
          ...(current ?? { id: String(data.runId), accountId, accountName: rows.get(accountId)!.account.name, progress: null, startedAt: event.at }),
          id: String(data.runId),
          status: data.status === "succeeded" ? "succeeded" : "failed",
          summary: (data.summary as Run["summary"]) ?? null,
          error: (data.error as Run["error"]) ?? null,
          finishedAt: event.at,
        } as Run;
        if (current && current.status === "running" && current.id === run.id) finished(run);
        else void loadAccount(accountId);
        break;
      }
      case "account.state":
        void loadState(accountId);
        break;
      case "message.stored":
      case "retrieval.completed":
        scheduleCount(accountId);
        break;
    }
  });

  const countTimers = new Map<string, number>();
  function scheduleCount(accountId: string): void {
    if (countTimers.has(accountId)) return;
    countTimers.set(
      accountId,
      window.setTimeout(() => {
        countTimers.delete(accountId);
        void loadAccount(accountId);
      }, 300),
    );
  }

  // "retrying in 40 s" counts down.
  const ticker = window.setInterval(() => {
    for (const row of rows.values()) if (states.get(row.account.id)?.subscription?.watch?.nextAttemptAt) paint(row);
  }, 1000);

  void load();
  return {
    title: "Accounts",
    element,
    dispose() {
      disposed = true;
      stopLive();
      window.clearInterval(ticker);
      for (const id of [...pollers.keys()]) stopPolling(id);
      for (const timer of countTimers.values()) window.clearTimeout(timer);
    },
  };
}
