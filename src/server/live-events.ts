/** One live update for the admin page: account state changes, run progress, new messages. */
export interface LiveEvent {
  /** Dotted name: `account.state`, `run.progress`, `run.finished`, `message.stored`, ... */
  type: string;
  accountId: string | null;
  data: Record<string, unknown>;
  /** ISO-8601 UTC; filled in by `publish` when absent. */
  at?: string;
}

/** A listener; it must not throw (errors are swallowed so one bad listener cannot stop the others). */
export type LiveEventListener = (event: Required<LiveEvent>) => void;

/**
 * An in-process event bus. The facade, watch and delivery layers publish into
 * it; `GET /api/v1/events/stream` forwards it as server-sent events. Nothing
 * is stored: a listener sees only what happens while it is subscribed.
 *
 * @example
 * ```ts
 * const live = createLiveEvents();
 * const stop = live.subscribe((e) => console.log(e.type));
 * live.publish({ type: "account.state", accountId, data: { state: "subscribed" } });
 * stop();
 * ```
 */
export interface LiveEvents {
  publish(event: LiveEvent): void;
  /** Returns the function that unsubscribes. */
  subscribe(listener: LiveEventListener): () => void;
}

/** An in-memory {@link LiveEvents}. */
export function createLiveEvents(): LiveEvents {
  const listeners = new Set<LiveEventListener>();
  return {
    publish(event) {
      const full: Required<LiveEvent> = { ...event, at: event.at ?? new Date().toISOString() };
      for (const listener of [...listeners]) {
        try {
          listener(full);
        } catch {
          // A broken listener (e.g. a closed stream) must not stop the rest.
        }
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
