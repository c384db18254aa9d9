/**
 * The handle life cycle of this package: NativeHandle (@ferry/native) gives
 * every wrapper the pointer, the closed guard, an idempotent close(), `using`
 * and the FinalizationRegistry backstop. ChannelMember adds what publishers
 * and subscribers share: they belong to a Channel handle, are unusable once
 * it is closed, and leave its list of members when they close.
 */
import type { Pointer } from "bun:ffi";
import { NativeHandle, closedError } from "@ferry/native";
import type { Channel } from "./channel";

export { NativeHandle, closedError } from "@ferry/native";

export abstract class ChannelMember extends NativeHandle {
  readonly channel: Channel;

  protected constructor(channel: Channel, handle: Pointer, free: (h: Pointer) => unknown) {
    super(handle, free);
    this.channel = channel;
  }

  /** @internal the native pointer; throws FERRY_E_CLOSED once this or its channel is closed. */
  override get handle(): Pointer {
    if (this.closed || this.channel.closed) throw closedError(this.what);
    return this.raw;
  }

  protected override afterFree(): void {
    this.channel.disown(this);
  }
}
