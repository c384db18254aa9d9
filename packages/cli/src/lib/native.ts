/**
 * The native packages, imported only when a command needs them: `--help`,
 * `--version` and the parser work without libferry, and a missing library is
 * one clear line (the loader's FerryError FERRY_E_NOLIB) instead of a stack.
 */
import { CliError } from "./output";

type ChannelModule = typeof import("@ferry/channel");
type NativeModule = typeof import("@ferry/native");

export interface Ferry {
  channel: ChannelModule;
  native: NativeModule;
}

let cached: Ferry | undefined;

/** Why the library did not load, as a CliError (exit 1); other errors pass through. */
export function libraryError(e: unknown): CliError | undefined {
  if (e instanceof CliError) return e.code === "FERRY_E_NOLIB" ? e : undefined;
  const err = e as { name?: string; code?: string; message?: string };
  if (err?.name === "FerryError" && err.code === "FERRY_E_NOLIB") return new CliError(err.message ?? "libferry could not be loaded", 1, err.code);
  return undefined;
}

export async function loadFerry(): Promise<Ferry> {
  if (cached) return cached;
  try {
    const [native, channel] = await Promise.all([import("@ferry/native"), import("@ferry/channel")]);
    cached = { native, channel };
    return cached;
  } catch (e) {
    throw libraryError(e) ?? e;
  }
}

/** An optional package (an engine, the coordinator): the module, or why not. */
export async function optional<T>(name: string): Promise<{ mod?: T; why?: string }> {
  try {
    return { mod: (await import(name)) as T };
  } catch (e) {
    const lib = libraryError(e);
    if (lib) return { why: lib.message.split("\n")[0] };
    const msg = String((e as Error)?.message ?? e);
    if (/cannot find (module|package)/i.test(msg) && msg.includes(name)) return { why: `${name} is not installed (bun add ${name})` };
    return { why: `${name} failed to load: ${msg.split("\n")[0]}` };
  }
}
