import "./styles.css";
import { createApiClient } from "./api-client";
import type { Session } from "./api-types";
import type { AppContext, View } from "./app-context";
import { h, replaceChildren } from "./dom";
import { createLiveStream, type LiveStream } from "./live-stream";
import { interceptLinks, matchRoute, type Route } from "./router";
import { accountFormView } from "./views/account-form-view";
import { accountsView } from "./views/accounts-view";
import { deliveriesView } from "./views/deliveries-view";
import { loginView } from "./views/login-view";
import { messageView } from "./views/message-view";
import { messagesView } from "./views/messages-view";
import { webhooksView } from "./views/webhooks-view";

/*
 * The admin page's composition root: sign-in, the shell (header, nav, live
 * indicator), and the routes. Everything it shows comes from /api/v1.
 */

const routes: Route[] = [
  { path: "/", view: (ctx) => accountsView(ctx) },
  { path: "/accounts", view: (ctx) => accountsView(ctx) },
  { path: "/accounts/new", view: (ctx) => accountFormView(ctx, null) },
  { path: "/accounts/:id/edit", view: (ctx, m) => accountFormView(ctx, m.params.id) },
  { path: "/accounts/:id/messages", view: (ctx, m) => messagesView(ctx, m.params.id, m.query) },
  { path: "/messages/:id", view: (ctx, m) => messageView(ctx, m.params.id) },
  { path: "/webhooks", view: (ctx) => webhooksView(ctx) },
  { path: "/deliveries", view: (ctx, m) => deliveriesView(ctx, m.query) },
];

const app = document.getElementById("app")!;
const api = createApiClient({ onSignedOut: () => showLogin() });
let live: LiveStream | null = null;
let current: View | null = null;

function showLogin(): void {
  current?.dispose?.();
  current = null;
  live?.close();
  live = null;
  document.title = "Sign in · Inbound";
  replaceChildren(app, loginView(api, (session) => start(session)));
  app.querySelector<HTMLInputElement>("input")?.focus();
}

function start(session: Session): void {
  const stream = createLiveStream();
  live = stream;
  const main = h("main", { id: "main", tabindex: "-1" });
  const announcer = h("div", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  const toast = h("div", { class: "toast", role: "status", hidden: true });
  const liveDot = h("span", { class: "live-dot", title: "Live updates" }, "connecting…");
  stream.onStatus((connected) => {
    liveDot.textContent = connected ? "live" : "offline";
    liveDot.classList.toggle("on", connected);
  });
  const navLink = (href: string, text: string) => h("a", { href, class: "nav-link", "data-nav": href }, text);
  const nav = h("nav", { class: "main-nav", "aria-label": "Main" }, navLink("/", "Accounts"), navLink("/webhooks", "Webhooks"), navLink("/deliveries", "Deliveries"));
  const who = session.user ? `${session.user.username} (${session.role})` : session.role;
  const signOut = h(
    "button",
    {
      type: "button",
      class: "button small",
      onclick: async () => {
        await api.signOut().catch(() => undefined);
        history.pushState(null, "", "/");
        showLogin();
      },
    },
    "Sign out",
  );
  const header = h("header", { class: "app-header" }, h("a", { class: "brand", href: "/" }, "Inbound"), nav, h("div", { class: "session" }, liveDot, h("span", { class: "who" }, who), signOut));
  replaceChildren(app, header, main, announcer, toast);

  let toastTimer: number | undefined;
  const ctx: AppContext = {
    api,
    live: stream,
    session,
    isAdmin: session.role === "admin",
    navigate(path, options = {}) {
      if (options.replace) history.replaceState(null, "", path);
      else history.pushState(null, "", path);
      render();
    },
    announce(text, kind = "info") {
      announcer.textContent = text;
      toast.textContent = text;
      toast.className = `toast toast-${kind}`;
      toast.hidden = false;
      window.clearTimeout(toastTimer);
      toastTimer = window.setTimeout(() => (toast.hidden = true), 4000);
    },
  };

  function render(): void {
    current?.dispose?.();
    const found = matchRoute(routes, location.pathname, location.search);
    if (!found) {
      current = { title: "Not found", element: h("section", null, h("h1", { tabindex: "-1" }, "Page not found"), h("p", null, h("a", { href: "/" }, "Go to the accounts"))) };
    } else {
      current = found.route.view(ctx, found.match);
    }
    replaceChildren(main, current.element);
    document.title = `${current.title} · Inbound`;
    const section = location.pathname.startsWith("/webhooks") ? "/webhooks" : location.pathname.startsWith("/deliveries") ? "/deliveries" : "/";
    for (const link of nav.querySelectorAll("a")) {
      if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    // Move focus to the new page's heading so keyboard and screen-reader users start there.
    current.element.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
  }

  window.onpopstate = () => render();
  render();
}

interceptLinks(app, (path) => {
  history.pushState(null, "", path);
  window.dispatchEvent(new PopStateEvent("popstate"));
});

api
  .session()
  .then((session) => start(session))
  .catch(() => showLogin());
