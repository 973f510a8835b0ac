import type { AppContext, View } from "./app-context";

/** A page's parameters: path parts by name, and the query string. */
export interface RouteMatch {
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Route {
  /** e.g. `/accounts/:id/messages` */
  path: string;
  view(ctx: AppContext, match: RouteMatch): View;
}

function compile(path: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = path.replace(/:([a-zA-Z]+)/g, (_all, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  return { pattern: new RegExp(`^${source}/?$`), names };
}

/**
 * Match a location against routes, first match wins.
 *
 * @example
 * ```ts
 * matchRoute(routes, "/accounts/a1/edit", "");
 * ```
 */
export function matchRoute(routes: readonly Route[], pathname: string, search: string): { route: Route; match: RouteMatch } | null {
  for (const route of routes) {
    const { pattern, names } = compile(route.path);
    const found = pattern.exec(pathname);
    if (!found) continue;
    const params: Record<string, string> = {};
    names.forEach((name, i) => (params[name] = decodeURIComponent(found[i + 1])));
    return { route, match: { params, query: new URLSearchParams(search) } };
  }
  return null;
}

/** Follow clicks on the page's own links without reloading (not API links, downloads or new tabs). */
export function interceptLinks(root: HTMLElement, navigate: (path: string) => void): void {
  root.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.("a");
    if (!anchor || anchor.hasAttribute("download") || anchor.target) return;
    const href = anchor.getAttribute("href");
    if (!href || !href.startsWith("/") || href.startsWith("/api/") || href.startsWith("//")) return;
    event.preventDefault();
    navigate(href);
  });
}
