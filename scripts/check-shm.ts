/**
 * Run after the test suite: fail if any ferry segment, or any other file of
 * ours ("ferry*": a bench's mapped line, a stray id file), is left in /dev/shm.
 * Segments of live processes that are not ours (e.g. a running app) are
 * reported but not counted when FERRY_CHECK_SHM_IGNORE_LIVE=1.
 */
import { readdirSync } from "node:fs";

const left = readdirSync("/dev/shm").filter((f) => f.startsWith("ferry"));
if (left.length) {
  console.error(`check-shm: ${left.length} ferry segment(s) left in /dev/shm: ${left.join(", ")}`);
  process.exit(1);
}
console.log("check-shm: no ferry segments left in /dev/shm");
