// Request / reply with subscriber.listen(): `bun main.ts` starts a service process that
// answers every request on "<name>.req" with the sum of its Float64 values on "<name>.rep";
// this process sends requests now and then (the service idles in between) and awaits each
// answer. Both sides take messages with listen(): a handler per message, straight from the
// wake-up, the shape of a socket's data callback.
import { Channel, type Message } from "@ferry/channel";

const name = process.env.FERRY_EXAMPLE_CHANNEL ?? `example.rr.${process.pid}`;

if (process.argv[2] === "service") {
  const requests = (await Channel.waitFor(`${name}.req`, { timeoutMs: 30_000 })).subscribe();
  const replies = (await Channel.waitFor(`${name}.rep`, { timeoutMs: 30_000 })).publisher();
  let served = 0;
  const l = requests.listen((msg) => {
    const xs = msg.view(Float64Array);
    let sum = 0;
    for (const x of xs) sum += x;
    const id = msg.header as { id: number };
    msg.release();
    replies.sendSync(new Float64Array([sum]), { header: id }); // the answer carries the request's id
    served++;
  });
  await l.done; // the client closed its publisher: end of stream
  console.log(`service: ${served} requests answered`);
  replies.close();
  process.exit(0);
}

using req = Channel.create(`${name}.req`, { capacity: 4 * 2 ** 20 });
using rep = Channel.create(`${name}.rep`, { capacity: 4 * 2 ** 20 });
const answers = rep.subscribe();
const pub = req.publisher();
const service = Bun.spawn([process.execPath, import.meta.path, "service"], {
  env: { ...process.env, FERRY_EXAMPLE_CHANNEL: name },
  stdout: "pipe",
});
await pub.waitForSubscribers(1, { timeoutMs: 30_000 });

// answers by request id; the listener settles the promise of each
const waiting = new Map<number, (sum: number) => void>();
const l = answers.listen((msg: Message) => {
  const { id } = msg.header as { id: number };
  const sum = msg.view(Float64Array)[0]!;
  msg.release();
  waiting.get(id)?.(sum);
  waiting.delete(id);
});

const ask = (id: number, xs: Float64Array) =>
  new Promise<number>((resolve) => {
    waiting.set(id, resolve);
    pub.sendSync(xs, { header: { id } });
  });

let ok = 0;
const N = 20;
for (let id = 0; id < N; id++) {
  await Bun.sleep(5); // a request now and then: the service's event loop sleeps in between
  const xs = Float64Array.from({ length: 1000 + id }, (_, i) => i * 0.5);
  const sum = await ask(id, xs);
  if (sum === xs.reduce((a, b) => a + b, 0)) ok++;
}
pub.close(); // end of stream for the service
console.log((await new Response(service.stdout).text()).trim());
l.stop();
answers.close();
console.log(`client: ${ok} of ${N} answers correct`);
