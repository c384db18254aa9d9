/**
 * A worker process for the tests: serveWorker(cfg.name, ...) with a handler picked by the
 * request's path (so one worker serves every case):
 *   /hash      JSON { sha256, n, pid } of the body
 *   /echo      the body back, through a loaned response body (filled in place), x-sha256 header
 *   /echo-copy the body back as a plain Response (copied into the reply channel)
 *   /gen?n=N   N bytes of 0x5a, written in place into a loaned body
 *   /json      the parsed JSON body back, with the request's method and a header
 *   /slow?ms=N emits {"event":"got"} then answers after N ms
 *   /headers   the request's headers as JSON
 *   /throw     the handler throws
 */
import { serveWorker } from "@ferry/http";
import { cfg, emit } from "@ferry/testkit/peer";

const sha = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

const w = serveWorker(cfg.name, async (req) => {
  const url = new URL(req.url);
  switch (url.pathname) {
    case "/hash":
      return Response.json({ sha256: sha(req.bytes), n: req.bytes.length, pid: process.pid });
    case "/echo": {
      const out = req.loanBody(req.bytes.length);
      out.bytes.set(req.bytes);
      return out.response({ status: 200, headers: { "x-sha256": sha(req.bytes), "x-pid": String(process.pid) } });
    }
    case "/gen": {
      const n = Number(url.searchParams.get("n") ?? 0);
      const out = req.loanBody(n);
      out.bytes.fill(0x5a);
      return out.response();
    }
    case "/echo-copy":
      return new Response(req.bytes.slice(), { headers: { "x-sha256": sha(req.bytes) } });
    case "/json":
      return Response.json({ method: req.method, got: req.json(), h: req.headers.get("x-test") });
    case "/headers":
      return Response.json(Object.fromEntries(req.headers));
    case "/slow": {
      emit("got", { n: req.bytes.length });
      await Bun.sleep(Number(url.searchParams.get("ms") ?? 1000));
      return new Response("slow done");
    }
    case "/throw":
      throw new Error("boom");
    default:
      return new Response("not found", { status: 404 });
  }
}, { concurrency: cfg.concurrency ?? 1 });
await w.ready;
emit("ready", { pid: process.pid });
process.on("SIGTERM", async () => {
  await w.close();
  process.exit(0);
});
