import { ApiProblem } from "../api-client";
import type { Account, AccountTestResult, Folder, Protocol, Security } from "../api-types";
import type { AppContext, View } from "../app-context";
import { h, replaceChildren } from "../dom";
import { formField, select, showFieldProblems, swapControl, type FormField } from "../form-field";
import { whatFailed } from "../plain-words";

const enc = encodeURIComponent;

const PROTOCOLS: [Protocol, string][] = [
  ["imaps", "IMAPS (IMAP over TLS)"],
  ["imap", "IMAP"],
  ["pop3s", "POP3S (POP3 over TLS)"],
  ["pop3", "POP3"],
];

/** The defaults of src/core/account-settings.ts, as the form starts. */
const DEFAULTS = { protocol: "imaps" as Protocol, folder: "INBOX", strategy: "oldest", limit: 50, all: false, batchSize: 50, timeoutMs: 30_000, after: "none", markSeen: false, sanitize: true, inlineImages: false, enabled: true, tlsVerify: true };

const isImap = (p: Protocol) => p === "imap" || p === "imaps";
const implicitTls = (p: Protocol) => p === "imaps" || p === "pop3s";

/** Default port per protocol and security (mirrors core's defaultPort). */
export function defaultPort(protocol: Protocol, security: Security): number {
  if (security === "tls") return isImap(protocol) ? 993 : 995;
  return isImap(protocol) ? 143 : 110;
}

function securityChoices(protocol: Protocol): [Security, string][] {
  return implicitTls(protocol) ? [["tls", "TLS from the start"]] : [["starttls", "STARTTLS (required)"], ["none", "None (plain text)"]];
}

const text = (attrs: Record<string, unknown> = {}) => h("input", { type: "text", spellcheck: "false", autocapitalize: "none", ...attrs });
const num = (attrs: Record<string, unknown> = {}) => h("input", { type: "number", inputmode: "numeric", ...attrs });
const check = () => h("input", { type: "checkbox" });

/** Add or edit an account: every setting, grouped, with the API's field errors inline. */
export function accountFormView(ctx: AppContext, accountId: string | null): View {
  const { api } = ctx;
  const editing = accountId !== null;
  const heading = h("h1", { tabindex: "-1" }, editing ? "Edit account" : "Add account");
  const summary = h("div", { class: "notice notice-error", role: "alert", tabindex: "-1", hidden: true });
  const testOutput = h("div", { class: "notice", role: "status", "aria-live": "polite", hidden: true });
  const element = h("section", { class: "account-form-view" }, h("div", { class: "view-header" }, heading), h("p", null, h("a", { href: "/" }, "← Accounts")), summary);

  const f = {
    name: formField({ name: "name", label: "Name", control: text({ required: true, autocomplete: "off" }), hint: "Letters, digits, '.', '_', '@' and '-'; used in the CLI and API." }),
    protocol: formField({ name: "protocol", label: "Protocol", control: select(PROTOCOLS) }),
    host: formField({ name: "host", label: "Host", control: text({ required: true, autocomplete: "off", placeholder: "mail.example.com" }) }),
    port: formField({ name: "port", label: "Port", control: num({ min: 1, max: 65535 }) }),
    security: formField({ name: "security", label: "Security", control: select([]) }),
    tlsVerify: formField({ name: "tlsVerify", label: "Check the server's certificate", control: check(), inline: true, hint: "Turn off only for a server you trust on a private network." }),
    tlsCa: formField({ name: "tlsCa", label: "CA certificate (PEM, optional)", control: h("textarea", { rows: 3, spellcheck: "false", placeholder: "-----BEGIN CERTIFICATE-----" }), hint: "For a server with a private or self-signed certificate." }),
    username: formField({ name: "username", label: "User name", control: text({ required: true, autocomplete: "off" }) }),
    password: formField({
      name: "password",
      label: "Password",
      control: h("input", { type: "password", autocomplete: "new-password", required: !editing }),
      hint: editing ? "Stored encrypted and never shown. Leave empty to keep the current one." : "Stored encrypted and never shown again.",
    }),
    folder: formField({ name: "folder", label: "Folder", control: text({ required: true }), hint: editing ? "Type a folder, or load the list from the server." : "Type a folder; after saving, you can pick from the server's list." }),
    strategy: formField({ name: "strategy", label: "Order", control: select([["oldest", "Oldest first"], ["latest", "Newest first"]]) }),
    limit: formField({ name: "limit", label: "Messages per retrieval", control: num({ min: 1, max: 100000 }) }),
    all: formField({ name: "all", label: "Take every new message (ignore the limit)", control: check(), inline: true }),
    batchSize: formField({ name: "batchSize", label: "Batch size", control: num({ min: 1, max: 10000 }), hint: "Messages per server round trip." }),
    timeoutMs: formField({ name: "timeoutMs", label: "Timeout (ms)", control: num({ min: 1000, max: 600000, step: 1000 }) }),
    pollIntervalSeconds: formField({ name: "pollIntervalSeconds", label: "Poll every (seconds, optional)", control: num({ min: 10 }), hint: "Empty: no schedule (fetch now, or subscribe to take mail as it arrives)." }),
    enabled: formField({ name: "enabled", label: "Enabled", control: check(), inline: true }),
    after: formField({ name: "after", label: "Then, on the server", control: select([["none", "Leave the message"], ["delete", "Delete the message"], ["move", "Move it to a folder"]]) }),
    moveTo: formField({ name: "moveTo", label: "Move to folder", control: text() }),
    markSeen: formField({ name: "markSeen", label: "Mark as seen", control: check(), inline: true }),
    sanitize: formField({ name: "sanitize", label: "Sanitize HTML bodies", control: check(), inline: true, hint: "Store a cleaned copy of each HTML body for display." }),
    inlineImages: formField({ name: "inlineImages", label: "Rewrite inline (cid:) images to stored attachments", control: check(), inline: true }),
  } satisfies Record<string, FormField>;
  const fields: FormField[] = Object.values(f);
  // A field's error goes once it is edited; the summary goes with the last one.
  for (const field of fields) {
    field.element.addEventListener("input", () => clearError(field));
    field.element.addEventListener("change", () => clearError(field));
  }
  function clearError(field: FormField): void {
    if (!field.element.classList.contains("has-error")) return;
    field.setError(null);
    if (!fields.some((x) => x.element.classList.contains("has-error"))) summary.hidden = true;
  }

  const folderList = h("p", { class: "field-hint", hidden: true });
  const loadFolders = editing ? h("button", { type: "button", class: "button small", onclick: () => void fillFolders() }, "Load folders from server") : null;
  const testButton = editing ? h("button", { type: "button", class: "button", onclick: () => void testConnection() }, "Test connection") : null;
  const saveButton = h("button", { type: "submit", class: "button primary" }, editing ? "Save changes" : "Add account");

  const group = (legend: string, ...children: (HTMLElement | null)[]) => h("fieldset", { class: "group" }, h("legend", null, legend), ...children);
  const form = h(
    "form",
    { class: "account-form", novalidate: true, onsubmit: (event: SubmitEvent) => void submit(event) },
    group("Server", f.name.element, f.protocol.element, f.host.element, h("div", { class: "field-pair" }, f.port.element, f.security.element), f.tlsVerify.element, f.tlsCa.element),
    group("Sign-in", f.username.element, f.password.element),
    group("What to fetch", f.folder.element, loadFolders, folderList, f.strategy.element, h("div", { class: "field-pair" }, f.limit.element, f.batchSize.element), f.all.element, h("div", { class: "field-pair" }, f.timeoutMs.element, f.pollIntervalSeconds.element), f.enabled.element),
    group("After retrieval", f.after.element, f.moveTo.element, f.markSeen.element),
    group("Display", f.sanitize.element, f.inlineImages.element),
    testOutput,
    h("div", { class: "actions form-actions" }, saveButton, testButton, h("a", { class: "button", href: "/" }, "Cancel")),
  );
  heading.id = "account-form-title";
  form.setAttribute("aria-labelledby", heading.id);

  const value = (field: FormField) => field.control.value;
  const checked = (field: FormField) => (field.control as HTMLInputElement).checked;
  let portTouched = false;

  function protocol(): Protocol {
    return value(f.protocol) as Protocol;
  }

  /** Follow the protocol: security choices, default port, POP3's limits. */
  function applyProtocol(): void {
    const p = protocol();
    const security = f.security.control as HTMLSelectElement;
    const previous = security.value;
    replaceChildren(security, securityChoices(p).map(([v, t]) => h("option", { value: v }, t)));
    if ([...security.options].some((o) => o.value === previous)) security.value = previous;
    applySecurity();
    const pop = !isImap(p);
    if (pop) {
      f.folder.control.value = "INBOX";
      (f.markSeen.control as HTMLInputElement).checked = false;
      if (value(f.after) === "move") f.after.control.value = "none";
    }
    f.folder.control.disabled = pop;
    f.markSeen.control.disabled = pop;
    if (loadFolders) loadFolders.disabled = pop;
    const move = (f.after.control as HTMLSelectElement).querySelector<HTMLOptionElement>('option[value="move"]');
    if (move) move.disabled = pop;
    applyAfter();
  }

  function applySecurity(): void {
    const port = defaultPort(protocol(), value(f.security) as Security);
    (f.port.control as HTMLInputElement).placeholder = String(port);
    if (!portTouched) f.port.control.value = String(port);
  }

  function applyAfter(): void {
    const move = value(f.after) === "move";
    f.moveTo.element.hidden = !move;
  }

  f.protocol.control.addEventListener("change", applyProtocol);
  f.security.control.addEventListener("change", applySecurity);
  f.port.control.addEventListener("input", () => (portTouched = f.port.control.value !== ""));
  f.after.control.addEventListener("change", applyAfter);

  function fill(account: Partial<Account>): void {
    const set = (field: FormField, v: unknown) => {
      if (field.control instanceof HTMLInputElement && field.control.type === "checkbox") field.control.checked = Boolean(v);
      else field.control.value = v === null || v === undefined ? "" : String(v);
    };
    set(f.protocol, account.protocol ?? DEFAULTS.protocol);
    applyProtocol();
    for (const key of ["name", "host", "security", "tlsVerify", "tlsCa", "username", "folder", "strategy", "limit", "all", "batchSize", "timeoutMs", "pollIntervalSeconds", "enabled", "after", "moveTo", "markSeen", "sanitize", "inlineImages"] as const) {
      const v = (account as Record<string, unknown>)[key] ?? (DEFAULTS as Record<string, unknown>)[key];
      set(f[key], v);
    }
    if (account.port !== undefined) {
      f.port.control.value = String(account.port);
      portTouched = account.security === undefined || account.port !== defaultPort(account.protocol ?? DEFAULTS.protocol, account.security);
    }
    applyProtocol();
  }

  /** The settings as the API takes them; numbers that are not numbers go as typed so the API names the field. */
  function settings(): Record<string, unknown> {
    const number = (field: FormField, optional: boolean): unknown => {
      const raw = field.control.value.trim();
      if (raw === "") return optional ? null : undefined;
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    };
    const after = value(f.after);
    const body: Record<string, unknown> = {
      name: value(f.name).trim(),
      protocol: protocol(),
      host: value(f.host).trim(),
      port: number(f.port, false),
      security: value(f.security),
      tlsVerify: checked(f.tlsVerify),
      tlsCa: value(f.tlsCa).trim() === "" ? null : value(f.tlsCa).trim(),
      username: value(f.username),
      folder: value(f.folder).trim(),
      strategy: value(f.strategy),
      limit: number(f.limit, false),
      all: checked(f.all),
      batchSize: number(f.batchSize, false),
      timeoutMs: number(f.timeoutMs, false),
      after,
      moveTo: after === "move" ? value(f.moveTo).trim() || null : null,
      markSeen: checked(f.markSeen),
      sanitize: checked(f.sanitize),
      inlineImages: checked(f.inlineImages),
      enabled: checked(f.enabled),
      pollIntervalSeconds: number(f.pollIntervalSeconds, true),
    };
    const password = value(f.password);
    if (password !== "" || !editing) body.password = password;
    for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
    return body;
  }

  async function submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    summary.hidden = true;
    saveButton.disabled = true;
    try {
      const saved = editing ? await api.patch<Account>(`/accounts/${enc(accountId)}`, settings()) : await api.post<Account>("/accounts", settings());
      showFieldProblems(fields, []);
      ctx.announce(editing ? `${saved.name} saved.` : `${saved.name} added.`);
      ctx.navigate("/");
    } catch (error) {
      if (error instanceof ApiProblem) {
        const unplaced = showFieldProblems(fields, error.fields);
        const count = error.fields.length;
        summary.hidden = false;
        summary.textContent =
          count > 0
            ? `Please correct ${count === 1 ? "the field" : `${count} fields`} below.${unplaced.length ? ` ${unplaced.map((p) => `${p.field}: ${p.message}`).join("; ")}` : ""}`
            : error.code === "ACCOUNT_EXISTS"
              ? "An account with that name already exists; choose another name."
              : whatFailed(error.code, error.message);
        if (error.code === "ACCOUNT_EXISTS") {
          f.name.setError("Name is already taken");
          f.name.control.focus();
        } else if (count === 0) {
          summary.focus();
        }
      } else {
        summary.hidden = false;
        summary.textContent = String(error);
      }
    } finally {
      saveButton.disabled = false;
    }
  }

  async function testConnection(): Promise<void> {
    if (!testButton) return;
    testButton.disabled = true;
    testOutput.hidden = false;
    testOutput.className = "notice";
    testOutput.textContent = "Testing the saved settings…";
    try {
      const result = await api.post<AccountTestResult>(`/accounts/${enc(accountId!)}/test`);
      testOutput.className = `notice ${result.ok ? "notice-ok" : "notice-error"}`;
      testOutput.textContent = result.ok ? `Connection works. ${result.summary}` : whatFailed(result.error?.code, result.summary);
      if (result.ok && result.folders && isImap(protocol())) usePicker(result.folders);
    } catch (error) {
      testOutput.className = "notice notice-error";
      testOutput.textContent = error instanceof ApiProblem ? whatFailed(error.code, error.message) : String(error);
    } finally {
      testButton.disabled = false;
    }
  }

  async function fillFolders(): Promise<void> {
    folderList.hidden = false;
    folderList.textContent = "Asking the server for its folders…";
    try {
      const { items } = await api.get<{ items: Folder[] }>(`/accounts/${enc(accountId!)}/folders`);
      usePicker(items.map((x) => x.path));
    } catch (error) {
      folderList.textContent = error instanceof ApiProblem ? whatFailed(error.code, error.message) : String(error);
    }
  }

  /** Swap the folder boxes for pickers of the server's folders (keeping the current choice). */
  function usePicker(paths: string[]): void {
    const picker = (field: FormField, withEmpty: boolean) => {
      const current = field.control.value;
      const choices = [...new Set([...(current ? [current] : []), ...paths])].sort((a, b) => (a === "INBOX" ? -1 : b === "INBOX" ? 1 : a.localeCompare(b)));
      const next = h("select", null, withEmpty ? h("option", { value: "" }, "(choose)") : null, choices.map((p) => h("option", { value: p }, p)));
      next.value = current;
      swapControl(field, next);
    };
    picker(f.folder, false);
    picker(f.moveTo, true);
    folderList.hidden = false;
    folderList.textContent = `${paths.length} folder(s) on the server.`;
  }

  element.append(form);
  if (editing) {
    form.hidden = true;
    const loading = h("p", { class: "loading" }, "Loading…");
    element.append(loading);
    api
      .get<Account>(`/accounts/${enc(accountId)}`)
      .then((account) => {
        heading.textContent = `Edit ${account.name}`;
        fill(account);
        form.hidden = false;
        loading.remove();
      })
      .catch((error: unknown) => {
        loading.textContent = error instanceof Error ? error.message : String(error);
      });
  } else {
    fill({});
  }
  return { title: editing ? "Edit account" : "Add account", element };
}
