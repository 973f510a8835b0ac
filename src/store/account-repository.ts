import type { AccountSettings } from "../core/account-settings.js";
import { InboundError } from "../core/inbound-error.js";
import { newId } from "../core/ids.js";
import { atomically, type Executor } from "./executor.js";
import type { Selectable, Updateable } from "kysely";
import type { AccountsTable, AccountState } from "./schema.js";
import { toTimestamp } from "./timestamp.js";

/** Account settings as stored: everything except the password, which lives only as ciphertext. */
export type StoredAccountSettings = Omit<AccountSettings, "password">;

/** An account as the rest of Inbound sees it. Never carries the password or its ciphertext. */
export type AccountRecord = StoredAccountSettings & {
  id: string;
  state: AccountState;
  stateDetail: string | null;
  lastRunAt: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
};

/** The outcome of one retrieval run, for {@link AccountRepository.recordRun}. */
export interface AccountRun {
  at: Date | string;
  /** The error message of a failed run; `null` for success (clears the previous error). */
  error: string | null;
}

/** Accounts and their encrypted passwords. Every method takes an optional executor (a transaction) last. */
export interface AccountRepository {
  /** Insert a new account. Throws ACCOUNT_EXISTS if the name is taken. */
  create(settings: AccountSettings | StoredAccountSettings, passwordEnc: string, executor?: Executor): Promise<AccountRecord>;
  /** The account with this id, or else with this name. Throws ACCOUNT_NOT_FOUND. */
  get(idOrName: string, executor?: Executor): Promise<AccountRecord>;
  /** All accounts, by name. */
  list(executor?: Executor): Promise<AccountRecord[]>;
  /** Replace the settings (validated by the caller, e.g. with `updateAccountSettings`), and the password when given. */
  update(id: string, settings: AccountSettings | StoredAccountSettings, passwordEnc?: string, executor?: Executor): Promise<AccountRecord>;
  /** Delete the account and, by cascade, its messages, sources, checkpoints and events. Throws ACCOUNT_NOT_FOUND. */
  remove(id: string, executor?: Executor): Promise<void>;
  setState(id: string, state: AccountState, detail?: string | null, executor?: Executor): Promise<void>;
  recordRun(id: string, run: AccountRun, executor?: Executor): Promise<void>;
  /** The sealed password, for the secret box to open. The only way the ciphertext leaves the repository. */
  getPasswordCiphertext(id: string, executor?: Executor): Promise<string>;
  /** Replace only the sealed password (key rotation). */
  setPasswordCiphertext(id: string, passwordEnc: string, executor?: Executor): Promise<void>;
  /** Every account's id with its sealed password (key rotation). */
  listPasswordCiphertexts(executor?: Executor): Promise<Array<{ id: string; passwordEnc: string }>>;
}

type AccountRow = Omit<Selectable<AccountsTable>, "password_enc">;
const PUBLIC_COLUMNS = [
  "id", "name", "protocol", "settings_json", "state", "state_detail", "last_run_at", "last_error", "created_at", "updated_at",
] as const;

function toRecord(row: AccountRow): AccountRecord {
  const settings = JSON.parse(row.settings_json) as StoredAccountSettings;
  return {
    ...settings,
    name: row.name,
    id: row.id,
    state: row.state,
    stateDetail: row.state_detail,
    lastRunAt: row.last_run_at,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function settingsJson(settings: AccountSettings | StoredAccountSettings): string {
  // Strip the password whatever the caller passed: it must never reach settings_json.
  const { password: _password, ...rest } = settings as AccountSettings;
  return JSON.stringify(rest);
}

function notFound(idOrName: string): InboundError {
  return new InboundError("ACCOUNT_NOT_FOUND", { message: `No account has the name or id "${idOrName}".` });
}

function exists(name: string): InboundError {
  return new InboundError("ACCOUNT_EXISTS", { message: `An account named "${name}" already exists; choose another name or update it.` });
}

/**
 * The account repository over `db`.
 *
 * @example
 * ```ts
 * const accounts = createAccountRepository(db);
 * const account = await accounts.create(parseAccountSettings(input), box.seal(input.password));
 * await accounts.setState(account.id, "running", "fetching INBOX");
 * ```
 */
export function createAccountRepository(db: Executor): AccountRepository {
  async function find(idOrName: string, ex: Executor): Promise<AccountRow | undefined> {
    const byId = await ex.selectFrom("accounts").select(PUBLIC_COLUMNS).where("id", "=", idOrName).executeTakeFirst();
    return byId ?? (await ex.selectFrom("accounts").select(PUBLIC_COLUMNS).where("name", "=", idOrName).executeTakeFirst());
  }

  async function mustUpdate(id: string, ex: Executor, values: Updateable<AccountsTable>): Promise<void> {
    const result = await ex.updateTable("accounts").set(values).where("id", "=", id).executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw notFound(id);
  }

  return {
    async create(settings, passwordEnc, ex = db) {
      const now = toTimestamp();
      const row = await ex
        .insertInto("accounts")
        .values({
          id: newId(),
          name: settings.name,
          protocol: settings.protocol,
          settings_json: settingsJson(settings),
          password_enc: passwordEnc,
          state: "idle",
          state_detail: null,
          last_run_at: null,
          last_error: null,
          created_at: now,
          updated_at: now,
        })
        // Conflict-free insert rather than catching the driver's error: the same on both dialects and race-safe.
        .onConflict((oc) => oc.column("name").doNothing())
        .returning(PUBLIC_COLUMNS)
        .executeTakeFirst();
      if (row === undefined) throw exists(settings.name);
      return toRecord(row);
    },

    async get(idOrName, ex = db) {
      const row = await find(idOrName, ex);
      if (row === undefined) throw notFound(idOrName);
      return toRecord(row);
    },

    async list(ex = db) {
      const rows = await ex.selectFrom("accounts").select(PUBLIC_COLUMNS).orderBy("name").execute();
      return rows.map(toRecord);
    },

    async update(id, settings, passwordEnc, ex = db) {
      return atomically(ex, async (trx) => {
        const clash = await trx.selectFrom("accounts").select("id").where("name", "=", settings.name).where("id", "!=", id).executeTakeFirst();
        if (clash !== undefined) throw exists(settings.name);
        await mustUpdate(id, trx, {
          name: settings.name,
          protocol: settings.protocol,
          settings_json: settingsJson(settings),
          updated_at: toTimestamp(),
          ...(passwordEnc === undefined ? {} : { password_enc: passwordEnc }),
        });
        const row = await find(id, trx);
        if (row === undefined) throw notFound(id);
        return toRecord(row);
      });
    },

    async remove(id, ex = db) {
      const result = await ex.deleteFrom("accounts").where("id", "=", id).executeTakeFirst();
      if (result.numDeletedRows === 0n) throw notFound(id);
    },

    async setState(id, state, detail = null, ex = db) {
      await mustUpdate(id, ex, { state, state_detail: detail, updated_at: toTimestamp() });
    },

    async recordRun(id, run, ex = db) {
      await mustUpdate(id, ex, { last_run_at: toTimestamp(run.at), last_error: run.error, updated_at: toTimestamp() });
    },

    async getPasswordCiphertext(id, ex = db) {
      const row = await ex.selectFrom("accounts").select("password_enc").where("id", "=", id).executeTakeFirst();
      if (row === undefined) throw notFound(id);
      return row.password_enc;
    },

    async setPasswordCiphertext(id, passwordEnc, ex = db) {
      await mustUpdate(id, ex, { password_enc: passwordEnc, updated_at: toTimestamp() });
    },

    async listPasswordCiphertexts(ex = db) {
      const rows = await ex.selectFrom("accounts").select(["id", "password_enc"]).orderBy("id").execute();
      return rows.map((r) => ({ id: r.id, passwordEnc: r.password_enc }));
    },
  };
}
