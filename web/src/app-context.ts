import type { ApiClient } from "./api-client";
import type { Session } from "./api-types";
import type { LiveStream } from "./live-stream";

/** What every view gets: the API, the live stream, who is signed in, and navigation. */
export interface AppContext {
  api: ApiClient;
  live: LiveStream;
  session: Session;
  /** Go to a page path, e.g. `/accounts/support/messages`. */
  navigate(path: string, options?: { replace?: boolean }): void;
  /** Say something to screen readers and show it briefly. */
  announce(text: string, kind?: "info" | "error"): void;
  readonly isAdmin: boolean;
}

/** A shown page: its element, its title, and what to stop when leaving it. */
export interface View {
  title: string;
  element: HTMLElement;
  dispose?(): void;
}
