/**
 * The other process of every two-process measurement (lib/procs.ts spawns
 * `bun roles/main.ts <role> ...args`). It prints READY once it has opened
 * and subscribed everything, optionally `RESULT <json>`, and exits 0 at end of
 * stream. Roles (see each function):
 *
 *   echo <in> <out> <wait> <replySize> <touch> [loop|await]   ferry ping-pong echo (ferry.ts)
 *   sink <in> <ack> <wait> <first>               ferry sink, acks 0-byte batch markers (ferry.ts)
 *   recv <in> <ack> <piece> <wait>               ferry receiver that hashes every byte (ferry.ts)
 *   ipc-echo                                     Bun IPC echo (sockets.ts)
 *   uds-echo <path>                              Unix socket echo (sockets.ts)
 *   uds-sink <path> <bytes>                      Unix socket sink (sockets.ts)
 *   atomics-echo <path>                          the Bun floor: Atomics on a mapped line (measure/atomics-floor.ts)
 *   http-front <impl> <port> <maxBody>           an HTTP front and its 2 workers (http.ts)
 *   http-worker <impl> <name>                    one of those workers (http.ts)
 *   http-client <json>                           the HTTP load (http.ts)
 */
import type { WaitStrategy } from "@ferry/channel";
import type { ReceiveHow } from "../lib/msg";
import { echo, recv, sink } from "./ferry";
import { httpClient, httpFront, httpWorker } from "./http";
import { atomicsEcho } from "../measure/atomics-floor";
import { ipcEcho, udsEcho, udsSink } from "./sockets";

const [role, ...args] = process.argv.slice(2);
const a = (i: number) => args[i] ?? "";

switch (role) {
  case "echo":
    await echo(a(0), a(1), a(2) as WaitStrategy, Number(a(3)), a(4) !== "0", (a(5) || undefined) as ReceiveHow | undefined);
    process.exit(0);
  case "sink":
    await sink(a(0), a(1), a(2) as WaitStrategy, a(3) === "1");
    process.exit(0);
  case "recv":
    await recv(a(0), a(1), Number(a(2)), (args[3] ?? "spin") as WaitStrategy);
    process.exit(0);
  case "ipc-echo":
    ipcEcho();
    break;
  case "uds-echo":
    udsEcho(a(0));
    break;
  case "atomics-echo":
    atomicsEcho(a(0));
    process.exit(0);
  case "uds-sink":
    udsSink(a(0), Number(a(1)));
    break;
  case "http-front":
    await httpFront(a(0), Number(a(1)), Number(a(2)));
    break;
  case "http-worker":
    await httpWorker(a(0), a(1));
    break;
  case "http-client":
    await httpClient(a(0));
    process.exit(0);
  default:
    console.error(`unknown role ${role}`);
    process.exit(2);
}
