/**
 * @ferry/http — an HTTP front (Bun.serve) hands large request bodies to worker
 * processes through Ferry shared memory, and their responses back.
 *
 *   // front
 *   const gw = gateway({ name: "imgs", maxBodyBytes: 256 * 2 ** 20, timeoutMs: 30_000 });
 *   Bun.serve({ fetch: gw.fetch, maxRequestBodySize: gw.maxBodyBytes });
 *   // each worker process
 *   serveWorker("imgs", (req) => Response.json({ bytes: req.bytes.length }));
 *
 * Files: gateway (the front), worker (serveWorker), meta (what travels in the
 * message header), common (names, /dev/shm check, liveness, error bodies).
 */
export { gateway, type Gateway, type GatewayOptions, type GatewayStats } from "./gateway";
export { serveWorker, type BodyLoan, type Handler, type WorkerHandle, type WorkerOptions, type WorkerRequest } from "./worker";
export { refClient, type RefClient, type RefClientOptions } from "./refs";
export { checkShmSpace } from "./common";
