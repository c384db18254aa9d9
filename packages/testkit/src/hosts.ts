/**
 * Two hosts on this machine, for tests that cross a network: host A is this
 * network namespace, host B a new one (`ip netns`), joined by a veth pair;
 * each host's processes run in a private mount namespace with a tmpfs of its
 * own on /dev/shm (`unshare -m`), so each has its own host identity and its
 * own shared memory. A host is entered with `nsenter` into a holder process
 * (a `sleep` that anchors the namespaces): `[...hosts.hostA, cmd, ...args]`.
 *
 *   const hosts = TwoHosts.setup("mq");          // synchronous: skip reasons are known at load time
 *   if (typeof hosts === "string") console.error(`skipped: ${hosts}`);
 *   await hosts.start();                          // the holders (idempotent)
 *   spawn([...hosts.hostB, "bun", "peer.ts"]);    // a process on host B; a broker listens on hosts.a
 *   hosts.close();                                // holders by pid, the veth pair, the namespace
 *
 * Needs root, `ip`, `unshare`, `mount`, `nsenter`. Nothing is left behind by
 * close(): the holders' tmpfs mounts go with their mount namespaces.
 */
import { spawn, spawnSync, type Subprocess } from "bun";

const sh = (cmd: string[]) => spawnSync(cmd, { stderr: "pipe", stdout: "pipe" });

/** A small stable hash (FNV-1a) for names and subnets. */
function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Why two hosts cannot be made here (not root, a tool missing), or null. */
export function twoHostsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not root: network and mount namespaces need root";
  for (const tool of ["ip", "unshare", "mount", "nsenter"]) if (sh(["which", tool]).exitCode !== 0) return `${tool} is missing`;
  return null;
}

export class TwoHosts {
  /** The network namespace of host B. */
  readonly ns: string;
  /** The veth ends: A's stays here, B's is moved into `ns`. */
  readonly vethA: string;
  readonly vethB: string;
  /** Host A's and host B's addresses on the veth pair (a /24 of 10.x.y.0). */
  readonly a: string;
  readonly b: string;
  /** Command prefixes that run a command on host A / host B (set by start()). */
  hostA: string[] = [];
  hostB: string[] = [];
  readonly #holders: Subprocess[] = [];
  #starting: Promise<void> | null = null;
  #closed = false;

  private constructor(tag: string) {
    // names unique per tag and process (interface names: at most 15 bytes)
    const id = process.pid % 10000;
    const t = tag.replace(/[^a-z0-9]/gi, "").slice(0, 3);
    this.ns = `ferry${t}${id}`;
    this.vethA = `f${t}${id}a`;
    this.vethB = `f${t}${id}b`;
    const h = fnv(`${tag}:${process.pid}`);
    const net = `10.${200 + (h % 50)}.${(h >>> 8) % 250}`;
    this.a = `${net}.1`;
    this.b = `${net}.2`;
  }

  /** The network part (namespace, veth pair, addresses); a string says why not (the caller skips, printing it). */
  static setup(tag: string): TwoHosts | string {
    const why = twoHostsUnavailable();
    if (why) return why;
    const h = new TwoHosts(tag);
    const steps = [
      ["ip", "netns", "add", h.ns],
      ["ip", "link", "add", h.vethA, "type", "veth", "peer", "name", h.vethB],
      ["ip", "link", "set", h.vethB, "netns", h.ns],
      ["ip", "addr", "add", `${h.a}/24`, "dev", h.vethA],
      ["ip", "link", "set", h.vethA, "up"],
      ["ip", "netns", "exec", h.ns, "ip", "addr", "add", `${h.b}/24`, "dev", h.vethB],
      ["ip", "netns", "exec", h.ns, "ip", "link", "set", h.vethB, "up"],
      ["ip", "netns", "exec", h.ns, "ip", "link", "set", "lo", "up"],
    ];
    for (const s of steps) {
      const r = sh(s);
      if (r.exitCode !== 0) {
        h.#removeNet();
        return `${s.join(" ")} failed: ${r.stderr.toString().trim()}`;
      }
    }
    return h;
  }

  /** Start both hosts' holders (a private mount namespace with its own /dev/shm tmpfs each); idempotent. */
  start(): Promise<void> {
    this.#starting ??= (async () => {
      this.hostA = await this.#holder(null);
      this.hostB = await this.#holder(this.ns);
    })();
    return this.#starting;
  }

  async #holder(netns: string | null): Promise<string[]> {
    const hold = ["unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=2g tmpfs /dev/shm && echo up && exec sleep 100000"];
    const h = spawn(netns ? ["ip", "netns", "exec", netns, ...hold] : hold, { stdout: "pipe", stderr: "inherit" });
    this.#holders.push(h);
    const r = h.stdout.getReader();
    const { value } = await r.read();
    r.releaseLock();
    if (!value || !new TextDecoder().decode(value).includes("up")) throw new Error("host holder did not start");
    // `ip netns exec` and `unshare` exec their command, and `sh` execs sleep: the holder's pid anchors the namespaces
    return ["nsenter", "-t", String(h.pid), "-m", "-n", "--"];
  }

  #removeNet() {
    sh(["ip", "link", "del", this.vethA]); // removes both ends
    sh(["ip", "netns", "del", this.ns]);
  }

  /** Kill the holders (by pid) and remove the veth pair and the namespace. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const h of this.#holders) h.kill("SIGKILL");
    this.#removeNet();
  }
}
