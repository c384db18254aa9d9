/** Channel: one shared-memory segment (control block, descriptor ring, arena) opened by this process. */
import { toArrayBuffer, type Pointer } from "bun:ffi";
import {
  ChannelInfoLayout, Errno, FerryError, NativeHandle, StatsLayout, check, cstr, decode, lib,
} from "@ferry/native";
import type { ChannelMember } from "./handle";
import { Publisher } from "./publisher";
import { Subscriber } from "./subscriber";
import { trustArgs, type ChannelStats, type CreateOptions, type OpenOptions, type PublisherOptions, type SubscribeOptions } from "./types";
import { Views } from "./views";

const sym = lib.symbols;

export class Channel extends NativeHandle {
  readonly name: string;
  /** Arena size in bytes. */
  readonly capacity: number;
  readonly slots: number;
  readonly granule: number;
  #arenaRO: Views;
  #arenaRW: Views | null = null;
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
    this.#arenaRO = new Views(toArrayBuffer(info.arenaRo as Pointer, 0, this.capacity));
  }

  protected get what() {
    return `channel "${this.name}"`;
  }

  /** Create channel `name`; this process owns it and its name goes away on close(). */
  static create(name: string, opts: CreateOptions = {}): Channel {
    const out = new BigUint64Array(1);
    const capacity = opts.capacity ?? 64 * 2 ** 20;
    if (!Number.isSafeInteger(capacity) || capacity <= 0)
      throw new FerryError(Errno.INVAL, `capacity must be a positive integer, got ${capacity}`);
    check(
      sym.ferry_channel_create(cstr(name), capacity, opts.slots ?? 0, opts.permissions ?? 0o600, out),
      `create channel "${name}"`,
    );
    return new Channel(name, Number(out[0]) as Pointer);
  }

  /**
   * Open an existing channel by name. Its segment must be a regular file owned by this
   * process's uid (or trusted: opts.trust) without group or world write bits (unless
   * trusted); anything else throws FERRY_E_PERM saying what was wrong.
   */
  static open(name: string, opts: OpenOptions = {}): Channel {
    const out = new BigUint64Array(1);
    const t = trustArgs(opts.trust);
    check(
      sym.ferry_channel_open2(cstr(name), t.flags, t.uids, t.uids.length, t.gids, t.gids.length, out),
      `open channel "${name}"`,
    );
    return new Channel(name, Number(out[0]) as Pointer);
  }

  /** Remove every ferry segment in /dev/shm that no live process uses. */
  static gc(): number {
    return check(sym.ferry_gc(), "gc");
  }

  /** Remove a channel's name (its users keep their mappings). */
  static unlink(name: string): void {
    check(sym.ferry_unlink(cstr(name)), `unlink "${name}"`);
  }

  /** @internal read-only view of the arena, shared by every subscriber of this handle. */
  get arenaRO() { return this.#arenaRO; }
  /** @internal read-write arena view, mapped by the first publisher. */
  arenaRW(pubHandle: Pointer): Views {
    return (this.#arenaRW ??= new Views(toArrayBuffer(sym.ferry_pub_arena(pubHandle)!, 0, this.capacity)));
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

  publisher(opts: PublisherOptions = {}): Publisher {
    return this.adopt(new Publisher(this, opts));
  }

  subscribe(opts: SubscribeOptions = {}): Subscriber {
    return this.adopt(new Subscriber(this, opts));
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
