/**
 * How long creating a large channel blocks the event loop (Channel.create vs
 * Channel.createAsync), and whether the page faults moved onto the first
 * message (issue 7): `bun run packages/bench/src/tools/create-stall.ts [MiB]`.
 * A 1 ms interval measures the longest stall of the event loop around the
 * create; then one send of half the arena shows the first message's cost.
 */
import { Channel } from "@ferry/channel";
for (const mode of ["sync", "async"] as const) {
  for (const mib of [Number(process.argv[2] ?? 512)]) {
    let maxGap = 0, last = performance.now();
    const iv = setInterval(() => { const n = performance.now(); maxGap = Math.max(maxGap, n - last); last = n; }, 1);
    await Bun.sleep(20); maxGap = 0; last = performance.now();
    const t0 = performance.now();
    const ch = mode === "sync" ? Channel.create(`ct2-${process.pid}-${mode}`, { capacity: mib * 2 ** 20 }) : await Channel.createAsync(`ct2-${process.pid}-${mode}`, { capacity: mib * 2 ** 20 });
    const t1 = performance.now();
    await Bun.sleep(5);
    clearInterval(iv);
    // first message: page faults would show here if the create had not pre-faulted
    const pub = ch.publisher(); const sub = ch.subscribe({ wait: "spin" });
    const big = new Uint8Array(mib * 2 ** 20 / 2).fill(1);
    const t2 = performance.now(); pub.sendSync(big); const t3 = performance.now();
    sub.tryReceive()?.release();
    console.log(`${mode} ${mib} MiB: create ${(t1 - t0).toFixed(1)} ms, longest event-loop stall ${maxGap.toFixed(1)} ms, first ${mib / 2} MiB send ${(t3 - t2).toFixed(1)} ms`);
    ch.close();
  }
}
