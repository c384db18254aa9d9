/** Shared helpers for peer scripts: config from argv, JSON lines out, "go" from stdin. */
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

/** Small deterministic PRNG (xorshift32) so publisher and test agree on sizes. */
export function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Serialise an error for the result line. */
export function errInfo(e: unknown) {
  const err = e as { name?: string; code?: string; message?: string };
  return { errName: err?.name, code: err?.code ?? null, message: err?.message ?? String(e) };
}
