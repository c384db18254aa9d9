/** Names, the /dev/shm check and process liveness, shared by the gateway and the workers. */
import { readFileSync, statfsSync } from "node:fs";
import type { Loan, PublishOptions, Publisher } from "@ferry/channel";

/**
 * Publish `loan`, or give it back when that fails: a failed publish leaves
 * the loan with its publisher (so it could be published again), and here
 * nobody will, so its space must not wait for the publisher's close.
 */
export function publishOrReturn(pub: Publisher, loan: Loan, opts?: PublishOptions): number {
  try {
    return pub.publish(loan, opts);
  } catch (e) {
    if (loan.active)
      try {
        pub.unloan(loan);
      } catch {}
    throw e;
  }
}

/** The request channel of gateway `name` (workers open it). */
export const requestChannel = (name: string) => `${name}.rq`;
/** The worker group every serveWorker joins on the request channel. */
export const DEFAULT_GROUP = "http";

const MiB = 2 ** 20;
const mib = (n: number) => `${(n / MiB).toFixed(n < 10 * MiB ? 1 : 0)} MiB`;

/**
 * Throw an error that says what to pass when /dev/shm cannot hold `need`
 * bytes (Docker's default /dev/shm is 64 MB). `dir` is for tests.
 */
export function checkShmSpace(need: number, what: string, dir = "/dev/shm"): void {
  let free: number;
  try {
    const s = statfsSync(dir);
    free = Number(s.bavail) * Number(s.bsize);
  } catch (e) {
    throw new Error(
      `@ferry/http: ${dir} is not available (${(e as Error).message}); Ferry needs a shared-memory filesystem there. ` +
        `In a container, run with --ipc=host or --shm-size=<size> (docker run --shm-size=${Math.ceil((need * 1.25) / 2 ** 30)}g).`,
    );
  }
  if (free < need) {
    const suggest = Math.max(1, Math.ceil((need * 1.25) / 2 ** 30));
    throw new Error(
      `@ferry/http: ${dir} has ${mib(free)} free, but ${what} needs ${mib(need)}. ` +
        `In Docker pass --shm-size=${suggest}g (or --ipc=host to use the host's /dev/shm); ` +
        `in Kubernetes mount an emptyDir with medium: Memory at /dev/shm; ` +
        `or lower maxBodyBytes / capacity / replyCapacity.`,
    );
  }
}

/** A process's start time (clock ticks since boot) and whether it is a zombie; null: no such process. */
export function procStart(pid: number): { start: string; zombie: boolean } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // after "pid (comm) ": state is field 3, starttime field 22
    return { start: rest[19] ?? "", zombie: rest[0] === "Z" || rest[0] === "X" };
  } catch {
    return null;
  }
}

/** Is process `pid`, started at `start` (procStart), still running? */
export function alive(pid: number, start: string): boolean {
  const p = procStart(pid);
  return p !== null && !p.zombie && p.start === start;
}

/** Plain-text error responses: short, and never naming a channel or a segment. */
export function errorResponse(status: number, message: string): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "x-ferry-error": String(status) },
  });
}
