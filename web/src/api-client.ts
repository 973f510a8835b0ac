import type { ProblemBody, Session } from "./api-types";

/** Where the public API lives; the page uses nothing else. */
export const API = "/api/v1";

/** One field the API named in `details.fields`. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** A failed API call: the `{code, message, details}` body and the HTTP status. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(status: number, body: ProblemBody) {
    super(body.message);
    this.name = "ApiProblem";
    this.status = status;
    this.code = body.code;
    this.details = body.details ?? {};
  }

  /** The fields a validation error named (CONFIG_INVALID, REQUEST_INVALID, WEBHOOK_INVALID). */
  get fields(): FieldProblem[] {
    const fields = this.details.fields;
    return Array.isArray(fields) ? (fields as FieldProblem[]).filter((f) => typeof f?.field === "string") : [];
  }
}

/**
 * The page's only way to the server: JSON over /api/v1 with the session
 * cookie, and the CSRF token on unsafe methods.
 *
 * @example
 * ```ts
 * const api = createApiClient({ onSignedOut: () => showLogin() });
 * const { items } = await api.get<{ items: Account[] }>("/accounts");
 * ```
 */
export interface ApiClient {
  get<T>(path: string, query?: Record<string, string | number | boolean | undefined | null>): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body: unknown): Promise<T>;
  put<T>(path: string, body?: unknown): Promise<T>;
  delete<T = void>(path: string): Promise<T>;
  /** Sign in; remembers the CSRF token. */
  signIn(username: string, password: string): Promise<Session>;
  /** Who am I (and the CSRF token); throws ApiProblem 401 when signed out. */
  session(): Promise<Session>;
  signOut(): Promise<void>;
}

export interface ApiClientOptions {
  /** Called when a request answers 401 (session expired or signed out elsewhere). */
  onSignedOut(): void;
}

/** Build `path?query` with empty values left out. */
export function withQuery(path: string, query: Record<string, string | number | boolean | undefined | null> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  let csrfToken: string | null = null;

  async function call<T>(method: string, path: string, body?: unknown, { quiet401 = false } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (method !== "GET" && csrfToken !== null) headers["x-csrf-token"] = csrfToken;
    let response: Response;
    try {
      response = await fetch(`${API}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
    } catch {
      throw new ApiProblem(0, { code: "NETWORK", message: "The Inbound server could not be reached; check that it is running.", details: {} });
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) {
      const problem = parsed && typeof parsed === "object" && "code" in parsed ? (parsed as ProblemBody) : { code: `HTTP_${response.status}`, message: `The server answered ${response.status}.`, details: {} };
      if (response.status === 401 && !quiet401) options.onSignedOut();
      throw new ApiProblem(response.status, problem);
    }
    return parsed as T;
  }

  return {
    get: (path, query) => call("GET", withQuery(path, query)),
    post: (path, body) => call("POST", path, body),
    patch: (path, body) => call("PATCH", path, body),
    put: (path, body) => call("PUT", path, body),
    delete: (path) => call("DELETE", path),
    async signIn(username, password) {
      const session = await call<Session>("POST", "/session", { username, password }, { quiet401: true });
      csrfToken = session.csrfToken;
      return session;
    },
    async session() {
      const session = await call<Session>("GET", "/session", undefined, { quiet401: true });
      csrfToken = session.csrfToken;
      return session;
    },
    async signOut() {
      try {
        await call("DELETE", "/session", undefined, { quiet401: true });
      } finally {
        csrfToken = null;
      }
    },
  };
}
