import { execFile, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, chownSync, existsSync, openSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, readdirSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** The system user that owns test Maildirs: Dovecot refuses to access mail as root. */
export const MAIL_USER = "inboundmail";

export interface DovecotUser {
  name: string;
  password: string;
}

export interface DovecotOptions {
  /** Users to create; default one user `alice` with password `alice-secret`. */
  users?: DovecotUser[];
  /** Offer TLS (implicit and STARTTLS/STLS). Off gives a server that refuses STARTTLS. */
  ssl?: boolean;
  /** Extra lines appended to dovecot.conf. */
  extraConfig?: string;
}

export interface DovecotPorts {
  imap: number;
  imaps: number;
  pop3: number;
  pop3s: number;
}

/**
 * A private Dovecot on loopback ports with its own config, users, Maildirs and
 * self-signed certificate. Used by protocol, retrieval and watch tests and by
 * the benchmarks.
 */
export interface DovecotServer {
  readonly host: string;
  readonly ports: DovecotPorts;
  readonly dir: string;
  /** PEM of the self-signed certificate the server presents (trust it with tlsCa). */
  readonly certPem: string;
  readonly users: DovecotUser[];
  /**
   * Add users. Dovecot notices a changed passwd-file only now and then, so a
   * user added while it runs may be refused for a while: create the users a
   * test needs up front (see {@link mailboxPool}).
   */
  addUsers(users: DovecotUser[]): void;
  maildir(user: string, folder?: string): string;
  /** Drop a raw message into a user's Maildir (new/); Dovecot assigns its UID on next look. */
  deliver(user: string, raw: string | Buffer, folder?: string): void;
  /** Deliver a message from a file (for messages too big to hold in memory). */
  deliverFile(user: string, path: string, folder?: string): void;
  /** Number of messages in a folder's Maildir (cur + new). */
  count(user: string, folder?: string): number;
  /** Number of messages in a folder that carry the \\Seen flag (Maildir info `:2,...S...`). */
  countSeen(user: string, folder?: string): number;
  /** Give a folder a new UIDVALIDITY (or the one given), as a server restore or migration would. */
  resetUidValidity(user: string, folder?: string, uidValidity?: number): Promise<void>;
  /** Drop every connection of `user`, as a server restart or a network cut would. */
  kick(user: string): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

function ensureMailUser(): { uid: number; gid: number } {
  const probe = spawnSync("id", ["-u", MAIL_USER]);
  if (probe.status !== 0) {
    execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", MAIL_USER]);
  }
  const uid = Number(execFileSync("id", ["-u", MAIL_USER]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", MAIL_USER]).toString().trim());
  return { uid, gid };
}

/** Installs Dovecot and Chromium from Debian when missing (as root), via the project's script. */
export function ensureTestPackages(): void {
  if (existsSync("/usr/lib/dovecot/imap") && existsSync("/usr/lib/dovecot/pop3") && existsSync("/usr/bin/chromium")) return;
  const script = new URL("../../scripts/install-test-deps.sh", import.meta.url).pathname;
  execFileSync(script, { stdio: ["ignore", "inherit", "inherit"] });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (typeof address !== "object" || address === null) return reject(new Error("no port"));
      server.close(() => resolve(address.port));
    });
  });
}

function isListening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function waitForPort(port: number, listening: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await isListening(port)) !== listening) {
    if (Date.now() > deadline) throw new Error(`Dovecot ${listening ? "did not listen" : "still listens"} on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function makeCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    "-keyout", keyFile, "-out", certFile,
    "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-addext", "basicConstraints=critical,CA:TRUE",
  ], { stdio: "ignore" });
  chmodSync(keyFile, 0o600);
  return { certFile, keyFile };
}

let uniqueCounter = 0;
let deliveryCounter = 0;

/** A Maildir file name that sorts in delivery order, so Dovecot's UIDs follow the order tests deliver in. */
function maildirName(): string {
  return `${Date.now()}.M${String(deliveryCounter++).padStart(9, "0")}P${process.pid}.inbound-test`;
}

/**
 * Start a private Dovecot. Each call gets its own directory and ports, so test
 * files can run in parallel.
 *
 * @example
 * ```ts
 * const dovecot = await startDovecot();
 * dovecot.deliver("alice", "Subject: hi\r\n\r\nbody\r\n");
 * await dovecot.stop();
 * ```
 */
export async function startDovecot(options: DovecotOptions = {}): Promise<DovecotServer> {
  ensureTestPackages();
  const { uid, gid } = ensureMailUser();
  const root = join(tmpdir(), "inbound-dovecot");
  mkdirSync(root, { recursive: true, mode: 0o755 });
  chmodSync(root, 0o755);
  const dir = mkdtempSync(join(root, "d-"));
  chmodSync(dir, 0o755);
  const home = join(dir, "home");
  mkdirSync(home, { mode: 0o755 });
  chownSync(home, uid, gid);
  const ssl = options.ssl ?? true;
  const { certFile, keyFile } = makeCertificate(dir);
  const ports: DovecotPorts = { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort() };
  const users: DovecotUser[] = [];
  const passwdFile = join(dir, "passwd");
  const conf = join(dir, "dovecot.conf");

  const writePasswd = () => {
    writeFileSync(passwdFile, users.map((u) => `${u.name}:{PLAIN}${u.password}::::::\n`).join(""), { mode: 0o644 });
  };
  const addUsers = (more: DovecotUser[]) => {
    for (const user of more) {
      users.push(user);
      const maildir = join(home, user.name, "Maildir");
      for (const sub of ["cur", "new", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
      execFileSync("chown", ["-R", `${uid}:${gid}`, join(home, user.name)]);
    }
    writePasswd();
  };
  addUsers(options.users ?? [{ name: "alice", password: "alice-secret" }]);

  const writeConfig = () => writeFileSync(conf, `
base_dir = ${dir}/run
state_dir = ${dir}/state
instance_name = inbound-test-${uniqueCounter++}-${process.pid}
log_path = ${dir}/dovecot.log
info_log_path = ${dir}/dovecot.log
listen = 127.0.0.1
protocols = imap pop3
ssl = ${ssl ? "yes" : "no"}
${ssl ? `ssl_cert = <${certFile}\nssl_key = <${keyFile}` : ""}
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_uid = ${uid}
mail_gid = ${gid}
mail_location = maildir:~/Maildir
mail_fsync = never
default_internal_user = dovecot
default_login_user = dovenull
mail_max_userip_connections = 2000
login_trusted_networks = 127.0.0.0/8
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN ${passwdFile}
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${home}/%u
}
namespace inbox {
  inbox = yes
  separator = /
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${ports.imap}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${ssl ? ports.imaps : 0}
    ssl = yes
  }
  process_min_avail = 1
  service_count = 0
  client_limit = 2000
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${ports.pop3}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${ssl ? ports.pop3s : 0}
    ssl = yes
  }
  service_count = 0
  client_limit = 2000
}
service imap {
  process_limit = 2000
}
service pop3 {
  process_limit = 2000
}
service anvil {
  client_limit = 10000
}
service auth {
  client_limit = 10000
}
service imap-urlauth-login {
  process_limit = 1
}
default_process_limit = 2000
default_client_limit = 10000
pop3_uidl_format = %08Xu%08Xv
protocol imap {
  mail_max_userip_connections = 2000
}
protocol pop3 {
  mail_max_userip_connections = 2000
}
${options.extraConfig ?? ""}
`);
  writeConfig();
  mkdirSync(join(dir, "state"), { recursive: true });

  const masterPidFile = join(dir, "run", "master.pid");
  const startErrors = join(dir, "start.err");
  const start = async (firstStart = false) => {
    for (let attempt = 1; ; attempt++) {
      // Output goes to files: a background Dovecot would otherwise keep the caller's stderr open.
      // What it says before its log is open (a port it cannot bind) goes to start.err.
      const errFd = openSync(startErrors, "w");
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn("dovecot", ["-c", conf], { stdio: ["ignore", errFd, errFd] });
        child.once("error", reject);
        child.once("exit", resolve);
      }).finally(() => closeSync(errFd));
      if (code === 0) break;
      const said = readFileSync(startErrors, "utf8");
      // The ports were free when picked, but test files start Dovecots in parallel: one may have
      // taken a port meanwhile. Pick new ones, on the first start only (a restart keeps its ports).
      if (firstStart && attempt < 5 && /address already in use/i.test(said)) {
        Object.assign(ports, { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort() });
        writeConfig();
        continue;
      }
      const log = existsSync(join(dir, "dovecot.log")) ? readFileSync(join(dir, "dovecot.log"), "utf8").slice(-2000) : "";
      throw new Error(`dovecot failed to start (exit ${code}):\n${said.slice(-2000)}${log}`);
    }
    await waitForPort(ports.imap, true, 10_000);
    await waitForPort(ports.pop3, true, 10_000);
  };
  const stop = async () => {
    if (!existsSync(masterPidFile)) return;
    const pid = Number(readFileSync(masterPidFile, "utf8").trim());
    // Dovecot's master lingers for seconds on SIGTERM while children drain;
    // tests need the ports back at once, so the whole process group goes.
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    rmSync(masterPidFile, { force: true });
    await waitForPort(ports.imap, false, 5_000);
  };

  const maildir = (user: string, folder = "INBOX") =>
    folder === "INBOX" ? join(home, user, "Maildir") : join(home, user, "Maildir", `.${folder.replaceAll("/", ".")}`);

  const ensureMaildir = (user: string, folder: string) => {
    const target = maildir(user, folder);
    if (!existsSync(join(target, "new"))) {
      for (const sub of ["cur", "new", "tmp"]) mkdirSync(join(target, sub), { recursive: true });
      execFileSync("chown", ["-R", `${uid}:${gid}`, target]);
    }
    return target;
  };

  const deliver = (user: string, raw: string | Buffer, folder = "INBOX") => {
    const target = ensureMaildir(user, folder);
    const name = maildirName();
    const tmpFile = join(target, "tmp", name);
    const bytes = typeof raw === "string" ? Buffer.from(raw.replace(/\r?\n/g, "\r\n"), "utf8") : raw;
    writeFileSync(tmpFile, bytes);
    chownSync(tmpFile, uid, gid);
    // Maildir delivery: write to tmp/, rename into new/ so readers never see half a file.
    execFileSync("mv", [tmpFile, join(target, "new", name)]);
  };

  const deliverFile = (user: string, path: string, folder = "INBOX") => {
    const target = ensureMaildir(user, folder);
    const name = maildirName();
    execFileSync("cp", [path, join(target, "tmp", name)]);
    chownSync(join(target, "tmp", name), uid, gid);
    execFileSync("mv", [join(target, "tmp", name), join(target, "new", name)]);
  };

  const count = (user: string, folder = "INBOX") => {
    const target = maildir(user, folder);
    if (!existsSync(target)) return 0;
    return readdirSync(join(target, "cur")).length + readdirSync(join(target, "new")).length;
  };

  const countSeen = (user: string, folder = "INBOX") => {
    const target = maildir(user, folder);
    if (!existsSync(target)) return 0;
    // Only cur/ holds flagged messages; a message in new/ has not even been looked at.
    return readdirSync(join(target, "cur")).filter((name) => /:2,[A-Z]*S/.test(name)).length;
  };

  const kick = async (user: string) => {
    await execFileAsync("doveadm", ["-c", conf, "kick", user], { timeout: 15_000 });
    // kick only asks the processes to go: wait until none of the user's connections is left.
    for (let waited = 0; waited < 5_000; waited += 20) {
      const { stdout } = await execFileAsync("doveadm", ["-c", conf, "who", "-1", user], { timeout: 15_000 });
      if (!stdout.split("\n").some((line) => line.startsWith(`${user} `))) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`doveadm kick ${user}: connections still open after 5 s`);
  };

  const resetUidValidity = async (user: string, folder = "INBOX", uidValidity?: number) => {
    const newValidity = String(uidValidity ?? Math.floor(Date.now() / 1000) + Math.floor(Math.random() * 100000));
    await execFileAsync("doveadm", ["-c", conf, "mailbox", "update", "-u", user, "--uid-validity", newValidity, folder], { timeout: 15_000 });
  };

  await start(true);
  return {
    host: "127.0.0.1",
    ports,
    dir,
    certPem: readFileSync(certFile, "utf8"),
    users,
    addUsers,
    maildir,
    deliver,
    deliverFile,
    count,
    countSeen,
    kick,
    resetUidValidity,
    start,
    stop: async () => {
      await stop();
    },
  };
}

/** `count` users `box1`, `box2`, ... with distinct passwords, for tests that need a fresh mailbox each. */
export function mailboxPool(count: number, prefix = "box"): DovecotUser[] {
  return Array.from({ length: count }, (_, i) => ({ name: `${prefix}${i + 1}`, password: `${prefix}${i + 1}-${randomBytes(4).toString("hex")}` }));
}

/** Remove a stopped server's directory. */
export function removeDovecotDir(server: DovecotServer): void {
  rmSync(server.dir, { recursive: true, force: true });
}
