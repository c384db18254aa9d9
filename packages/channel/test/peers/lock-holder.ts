/**
 * Takes the channel lock the way libferry does (CAS 0 → its pid on the lock
 * word, the first word of the control block at offset 4096 of the segment),
 * reports it, then stops itself with SIGSTOP inside the critical section: a
 * live holder that never lets go. cfg: { name }
 */
import { shmPath } from "@ferry/testkit";
import { cfg, emit } from "@ferry/testkit/peer";

const LOCK_OFFSET = 4096; // FERRY_PAGE: the control block follows the header page; `lock` is its first field
const seg = Bun.mmap(shmPath(cfg.name)); // MAP_SHARED, read-write
const word = new Int32Array(seg.buffer, seg.byteOffset + LOCK_OFFSET, 1);
let taken = false;
for (let i = 0; i < 1000 && !taken; i++) {
  taken = Atomics.compareExchange(word, 0, 0, process.pid) === 0;
  if (!taken) await Bun.sleep(1);
}
emit(taken ? "holding" : "failed", { pid: process.pid, word: Atomics.load(word, 0) });
if (taken) process.kill(process.pid, "SIGSTOP");
