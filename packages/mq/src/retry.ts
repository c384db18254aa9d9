/** What both broker transports (nats.ts, redis.ts) do while a broker is away. */
import { MqError } from "./types";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run `f` until it succeeds or `deadline` (performance.now()) passes: the broker may be restarting. */
export async function retry<T>(what: string, deadline: number, f: () => Promise<T>): Promise<T> {
  let wait = 50;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (performance.now() + wait > deadline) throw new MqError("TIMEOUT", `${what}: ${(e as Error).message}`);
      await sleep(wait);
      wait = Math.min(wait * 2, 1000);
    }
  }
}
