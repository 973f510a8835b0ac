import { API } from "./api-client";
import type { LiveEvent } from "./api-types";

/** Live event types the page follows (GET /events/stream names each event by its type). */
const TYPES = ["account.state", "run.progress", "run.finished", "message.stored", "retrieval.completed"];

export type LiveListener = (event: LiveEvent) => void;

/**
 * One EventSource on GET /api/v1/events/stream for the whole page; views
 * subscribe while they are shown. The browser reconnects by itself
 * (the server sends `retry: 3000`).
 *
 * @example
 * ```ts
 * const live = createLiveStream();
 * const stop = live.subscribe((e) => console.log(e.type));
 * ```
 */
export interface LiveStream {
  subscribe(listener: LiveListener): () => void;
  /** Connected now? */
  readonly connected: boolean;
  onStatus(listener: (connected: boolean) => void): void;
  close(): void;
}

export function createLiveStream(): LiveStream {
  const listeners = new Set<LiveListener>();
  const statusListeners = new Set<(connected: boolean) => void>();
  let connected = false;
  const source = new EventSource(`${API}/events/stream`, { withCredentials: true });
  const setStatus = (next: boolean) => {
    if (next === connected) return;
    connected = next;
    for (const listener of statusListeners) listener(connected);
  };
  source.onopen = () => setStatus(true);
  source.onerror = () => setStatus(false);
  const dispatch = (message: MessageEvent<string>) => {
    let event: LiveEvent;
    try {
      event = JSON.parse(message.data) as LiveEvent;
    } catch {
      return;
    }
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (error) {
        console.error("live listener failed", error);
      }
    }
  };
  for (const type of TYPES) source.addEventListener(type, dispatch as EventListener);
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get connected() {
      return connected;
    },
    onStatus(listener) {
      statusListeners.add(listener);
    },
    close() {
      source.close();
      setStatus(false);
    },
  };
}
