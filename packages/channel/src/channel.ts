/** Channel: one shared-memory segment (control block, descriptor ring, arena) opened by this process. */
import type { Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import {
  ChannelInfoLayout, Errno, FerryError, NativeHandle, StatsLayout, check, cstr, decode, lendArena, lib,
} from "@ferry/native";
import type { ChannelMember } from "./handle";
import { POLL_MAX_MS, POLL_MIN_MS, sleep } from "./poll";
import { Publisher } from "./publisher";
import { Subscriber } from "./subscriber";
import {
  checkInt, checkName, checkTimeout, optionsOf, trustArgs, type ChannelStats, type CreateOptions, type OpenOptions,
  type PublisherOptions, type SubscribeOptions, type WaitForOptions,
} from "./types";

/** Where libferry keeps channel `name` (FERRY_SHM_PREFIX under /dev/shm). */
const shmPath = (name: string) => `/dev/shm/ferry.${name}`;

const sym = lib.symbols;

/** create / createAsync arguments, checked (FerryError FERRY_E_NAME / FERRY_E_INVAL). */
function createArgs(name: string, opts: CreateOptions | undefined) {
  checkName(name);
  const o = optionsOf(opts, "create");
  const capacity = o.capacity ?? 64 * 2 ** 20;
  if (typeof capacity !== "number" || !Number.isSafeInteger(capacity) || capacity <= 0)
    throw new FerryError(Errno.INVAL, `capacity must be a positive integer, got ${String(capacity)}`);
  const slots = o.slots === undefined ? 0 : checkInt(o.slots, "slots", 0, 2 ** 32 - 1);
  const permissions = o.permissions === undefined ? 0o600 : checkInt(o.permissions, "permissions", 0, 0o777);
  // below the ring's slots: libferry checks that (its default ring included) with FERRY_E_INVAL
  const history = o.history === undefined ? 0 : checkInt(o.history, "history", 0, 2 ** 32 - 1);
  return { capacity, slots, permissions, history };
}

export class Channel extends NativeHandle {
  readonly name: string;
  /** Arena size in bytes. */
  readonly capacity: number;
  readonly slots: number;
  readonly granule: number;
  /** Messages kept for late subscribers (CreateOptions.history; 0: none), as the creator set it. */
  readonly history: number;
  readonly #arenaRo: Pointer;
  #members = new Set<ChannelMember>();

  private constructor(name: string, handle: Pointer) {
    super(handle, sym.ferry_channel_close); // the creator's close also removes the name
    this.name = name;
    const raw = new Uint8Array(ChannelInfoLayout.size);
    check(sym.ferry_channel_info_get(handle, raw), `channel "${name}"`);
    const info = decode(ChannelInfoLayout, raw);
    this.capacity = info.arenaSize;
    this.granule = info.granule;
    this.slots = info.ringSlots;
    this.history = info.history;
    this.#arenaRo = info.arenaRo as Pointer;
  }

  protected get what() {
    return `channel "${this.name}"`;
  }

  /** Create channel `name`; this process owns it and its name goes away on close(). */
  static create(name: string, opts?: CreateOptions): Channel {
    const a = createArgs(name, opts);
    const out = new BigUint64Array(1);
    check(sym.ferry_channel_create2(cstr(name), a.capacity, a.slots, a.permissions, a.history, out), `create channel "${name}"`);
    return new Channel(name, Number(out[0]) as Pointer);
  }

  /**
   * Create like `create`, with the reservation and pre-faulting of the segment
   * (hundreds of ms for a large arena) on a native thread: the event loop
   * stays free, and the first messages still pay no page faults. Every error
   * (arguments, name, the create's own) rejects with a FerryError.
   */
  static async createAsync(name: string, opts?: CreateOptions): Promise<Channel> {
    const a = createArgs(name, opts);
    const job = new BigUint64Array(1);
    const fd = check(
      sym.ferry_channel_create_async2(cstr(name), a.capacity, a.slots, a.permissions, a.history, job),
      `create channel "${name}"`,
    );
    const reader = Bun.file(fd).stream().getReader();
    try {
      await reader.read(); // the eventfd fires once the thread has stored its result
    } finally {
      await reader.cancel().catch(() => {});
    }
    const out = new BigUint64Array(1);
    check(sym.ferry_channel_create_collect(Number(job[0]) as Pointer, out), `create channel "${name}"`); // closes the fd
    return new Channel(name, Number(out[0]) as Pointer);
  }


  /**
   * Open an existing channel by name. Its segment must be a regular file owned by this
   * process's uid (or trusted: opts.trust) without group or world write bits (unless
   * trusted); anything else throws FERRY_E_PERM saying what was wrong.
   */
  static open(name: string, opts: OpenOptions = {}): Channel {
    checkName(name);
    opts = optionsOf(opts, "open");
    if ("timeoutMs" in opts)
      throw new FerryError(Errno.INVAL, `Channel.open() does not wait: use await Channel.waitFor("${name}", { timeoutMs })`);
    const out = new BigUint64Array(1);
    const t = trustArgs(opts.trust);
    check(
      sym.ferry_channel_open2(cstr(name), t.flags, t.uids, t.uids.length, t.gids, t.gids.length, out),
      `open channel "${name}"`,
    );
    return new Channel(name, Number(out[0]) as Pointer);
  }

  /**
   * Wait until channel `name` exists, then open it (Channel.open's trust
   * checks apply): the rendezvous for a consumer that may start before its
   * producer. Asynchronous, so the event loop runs while it waits: it polls
   * the segment's name with a stat (1 ms, doubling up to 25 ms); a creator
   * renames a fully initialised segment into place, so a name that exists is
   * ready to open. Rejects FERRY_E_TIMEOUT after opts.timeoutMs (default
   * 30 s; negative or Infinity: forever), and at once for any other failure
   * (FERRY_E_PERM, FERRY_E_NAME, ...). Channel.open stays synchronous: one
   * call that returns a Channel or a Promise depending on an option would be
   * easy to misuse (`using ch = Channel.open(name, { timeoutMs })`).
   */
  static async waitFor(name: string, opts?: WaitForOptions): Promise<Channel> {
    checkName(name);
    const o = optionsOf(opts, "waitFor");
    const timeoutMs = checkTimeout(o.timeoutMs, 30_000);
    const openOpts: OpenOptions = o.trust === undefined ? {} : { trust: o.trust };
    trustArgs(o.trust); // bad trust options reject before any wait
    const signal = o.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw new FerryError(Errno.INVAL, "waitFor: signal must be an AbortSignal");
    const aborted = () => new FerryError(Errno.CLOSED, `waiting for channel "${name}" was aborted`);
    const deadline = performance.now() + timeoutMs;
    for (let delay = POLL_MIN_MS, first = true; ; delay = Math.min(delay * 2, POLL_MAX_MS), first = false) {
      if (signal?.aborted) throw aborted();
      if (first || existsSync(shmPath(name))) { // the first open also judges the name (FERRY_E_NAME)
        try {
          return Channel.open(name, openOpts);
        } catch (e) {
          // removed between the stat and the open (a creator that closed): wait on
          if (!(e instanceof FerryError && e.code === "FERRY_E_NOTFOUND")) throw e;
        }
      }
      const left = deadline - performance.now();
      if (left <= 0)
        throw new FerryError(Errno.TIMEOUT, `channel "${name}" did not appear within ${timeoutMs} ms (no ${shmPath(name)})`);
      await sleep(Math.min(delay, left));
    }
  }

  /** Remove every ferry segment in /dev/shm that no live process uses. */
  static gc(): number {
    return check(sym.ferry_gc(), "gc");
  }

  /** Remove a channel's name (its users keep their mappings). */
  static unlink(name: string): void {
    checkName(name);
    check(sym.ferry_unlink(cstr(name)), `unlink "${name}"`);
  }

  /**
   * @internal a new buffer over this handle's read-only arena mapping, with a
   * lease on it (arena.ts in @ferry/native): one per subscriber, detached
   * when that subscriber closes.
   */
  lendRO(): ArrayBuffer {
    return lendArena(this.handle, this.#arenaRo, this.capacity, false);
  }
  /** @internal the same over the read-write mapping (the first publisher maps it): one per publisher. */
  lendRW(pubHandle: Pointer): ArrayBuffer {
    return lendArena(this.handle, sym.ferry_pub_arena(pubHandle) as Pointer, this.capacity, true);
  }
  /** @internal */
  adopt<T extends ChannelMember>(c: T): T {
    this.#members.add(c);
    return c;
  }
  /** @internal */
  disown(c: ChannelMember) {
    this.#members.delete(c);
  }

  publisher(opts?: PublisherOptions): Publisher {
    return this.adopt(new Publisher(this, optionsOf(opts, "publisher")));
  }

  subscribe(opts?: SubscribeOptions): Subscriber {
    return this.adopt(new Subscriber(this, optionsOf(opts, "subscribe")));
  }

  stats(): ChannelStats {
    const s = new Uint8Array(StatsLayout.size);
    check(sym.ferry_channel_stats(this.handle, s), "stats");
    return decode(StatsLayout, s);
  }

  /** Reclaim space held by dead participants now (it also happens on its own while waiting). */
  reap(): number {
    return check(sym.ferry_channel_reap(this.handle), "reap");
  }

  /** Close publishers and subscribers of this handle, then detach; the creator also removes the name. Idempotent. */
  protected override beforeFree(): void {
    for (const c of [...this.#members]) c.close();
  }
}
