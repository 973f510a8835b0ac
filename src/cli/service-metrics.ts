import type { Inbound } from "../inbound.js";

const STATES = ["connecting", "subscribed", "polling", "connection_lost", "retrying", "failed", "stopped"] as const;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * `/metrics` in the Prometheus text format: per-account watch state, messages
 * stored, IDLE reconnects, and delivery counters.
 *
 * @example
 * ```ts
 * res.type("text/plain; version=0.0.4").send(await renderMetrics(inbound));
 * ```
 */
export async function renderMetrics(inbound: Inbound): Promise<string> {
  const lines: string[] = [];
  const accounts = await inbound.listAccounts();
  const names = new Map(accounts.map((a) => [a.id, a.name]));
  const watchStates = inbound.watches.states();

  lines.push("# HELP inbound_account_state Watch state per account (1 for the current state).", "# TYPE inbound_account_state gauge");
  for (const state of watchStates) {
    const account = escapeLabel(names.get(state.accountId) ?? state.accountId);
    for (const name of STATES) lines.push(`inbound_account_state{account="${account}",state="${name}"} ${state.state === name ? 1 : 0}`);
  }
  lines.push("# HELP inbound_idle_reconnect_attempts Consecutive failed connection attempts of a watch (0 when connected).", "# TYPE inbound_idle_reconnect_attempts gauge");
  for (const state of watchStates) lines.push(`inbound_idle_reconnect_attempts{account="${escapeLabel(names.get(state.accountId) ?? state.accountId)}"} ${state.attempt}`);

  lines.push("# HELP inbound_messages_stored Messages stored per account.", "# TYPE inbound_messages_stored gauge");
  // One grouped query per scrape, not one per account (1,000 subscriptions scrape as cheaply as one).
  const counts = await inbound.store.messages.countsByAccount();
  for (const account of accounts) lines.push(`inbound_messages_stored{account="${escapeLabel(account.name)}"} ${counts.get(account.id) ?? 0}`);

  const stats = inbound.delivery.stats();
  lines.push(
    "# HELP inbound_deliveries_succeeded_total Delivery attempts that succeeded since start.",
    "# TYPE inbound_deliveries_succeeded_total counter",
    `inbound_deliveries_succeeded_total ${stats.delivered}`,
    "# HELP inbound_delivery_failures_total Delivery attempts that failed since start (each retry counts).",
    "# TYPE inbound_delivery_failures_total counter",
    `inbound_delivery_failures_total ${stats.failures}`,
    "# HELP inbound_deliveries_parked_total Events parked after their last attempt since start.",
    "# TYPE inbound_deliveries_parked_total counter",
    `inbound_deliveries_parked_total ${stats.parked}`,
    "# HELP inbound_deliveries_in_flight Deliveries in hand.",
    "# TYPE inbound_deliveries_in_flight gauge",
    `inbound_deliveries_in_flight ${stats.inFlight}`,
  );
  return `${lines.join("\n")}\n`;
}
