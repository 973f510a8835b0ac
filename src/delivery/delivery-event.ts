/** An event from the outbox as handlers receive it. */
export interface DeliveryEvent {
  /** The outbox id: the same on every retry and replay; deduplicate on it. */
  id: string;
  type: string;
  /** `null` for events about the whole service. */
  accountId: string | null;
  /** When the event was stored (ISO-8601 UTC). */
  createdAt: string;
  payload: Record<string, unknown>;
}

/** What a handler is told about the attempt it runs in. */
export interface HandlerContext {
  /** The event id (see {@link DeliveryEvent.id}). */
  eventId: string;
  /** 1 on the first attempt. */
  attempt: number;
  /** Aborted when the service closes and the drain bound has passed. */
  signal: AbortSignal;
}

/** Options for registering a handler. */
export interface HandlerOptions {
  /**
   * The durable name deliveries are kept under. A name that was registered
   * before resumes where it left off (events stored while no process had it
   * registered wait for it); a new name starts with events stored from now on.
   * Default: `"default"` for `onMessage`, `"on:<type>"` for `on(type)`.
   */
  name?: string;
  /** For a name registered for the first time: also deliver every event already in the outbox. */
  fromBeginning?: boolean;
}

/** Removes a handler from this process; its name stays registered, so its events wait for it. `ready` settles once the name is stored. */
export type Unsubscribe = (() => void) & { ready: Promise<void> };
