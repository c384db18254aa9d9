/**
 * @ferry/testkit/peer: the script side of a peer process (the test side is ./spawn.ts):
 * config from argv, JSON lines out, "go" from stdin, plus the payload
 * patterns and the raw-send helper peers need. Import it only from peer
 * scripts: `cfg` is read from this process's argv at import.
 */
export * from "./pattern";
export { RawPublisher } from "./raw";

export const cfg: Record<string, any> = JSON.parse(process.argv[2] ?? "{}");

export function emit(event: string, data: Record<string, unknown> = {}) {
  process.stdout.write(`${JSON.stringify({ event, ...data })}\n`);
}

let stdinReader: { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> } | null = null;
let stdinBuf = "";

/** Resolve once a line equal to `word` arrives on stdin. */
export async function waitLine(word = "go"): Promise<void> {
  const reader = (stdinReader ??= Bun.stdin.stream().getReader());
  const dec = new TextDecoder();
  for (;;) {
    let i: number;
    while ((i = stdinBuf.indexOf("\n")) >= 0) {
      const line = stdinBuf.slice(0, i).trim();
      stdinBuf = stdinBuf.slice(i + 1);
      if (line === word) {
        // let go of stdin, or the open reader keeps this process alive at the end
        void reader.cancel().catch(() => {});
        stdinReader = null;
        return;
      }
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`stdin closed before "${word}"`);
    stdinBuf += dec.decode(value, { stream: true });
  }
}

/** Serialise an error for the result line. */
export function errInfo(e: unknown) {
  const err = e as { name?: string; code?: string; message?: string };
  return { errName: err?.name, code: err?.code ?? null, message: err?.message ?? String(e) };
}
