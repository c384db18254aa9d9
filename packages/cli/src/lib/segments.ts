/**
 * Ferry segments in /dev/shm and whether anyone alive uses them.
 *
 * `judge()` is the one decision behind `ferry ls` (state), `ferry gc` (what it
 * removes) and `ferry gc --dry-run` (what it lists): they cannot disagree. It
 * follows libferry's ferry_gc() (native/src/shm/segment.c): only this user's
 * regular files; a temporary segment ("ferry.~tmp.<pid>.<n>") is stale when
 * its pid is gone; a segment younger than 2 s and smaller than a page is too
 * young to judge; otherwise it is in use while its creator or any registered
 * participant is alive (pid + process start time, so a reused pid does not
 * count), and stale when none is (or when its header is not a valid ferry
 * header). It reads the segment header directly (layout v9, whose header is v7's: the creator and
 * the participant table, whose records still start with kind, pid and start time); a layout version it does not know is reported and
 * never removed. A test checks the decision against ferry_gc() itself.
 */
import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readFileSync, readSync, constants as C, unlinkSync } from "node:fs";

export const SHM = "/dev/shm";
export const PREFIX = "ferry.";
const PAGE = 4096;
const MAGIC = 0x3148435952524546n; // "FERRYCH1"
const LAYOUT = 9;
const NAME_MAX = 64;
const HOST_ID_LEN = 32;
// struct ferry_seg_hdr offsets (native/src/shm/layout.h, v7 to v9 (v8: 128-byte descriptors, v9: the wake mask; same header): pins_off after ring_off; host_id
// and generation after the name). tests in packages/cli check them against libferry's ferry_gc.
const NAME_OFF = 144;
const OFF = {
  magic: 0, version: 8, hdrSize: 12, segmentSize: 16, partsOff: 40, maxParts: 100, creatorPid: 116, creatorUid: 120,
  creatorStart: 128, createdNs: 136, szPart: NAME_OFF + NAME_MAX + 1 + 7 + HOST_ID_LEN + 8 + 8,
};

export type State = "in use" | "creator dead" | "stale" | "too young" | "foreign" | "unknown layout";

export interface Judgement {
  /** The channel name (the file name without "ferry."). */
  name: string;
  file: string;
  bytes: number;
  state: State;
  /** ferry gc removes it (state "stale"). */
  collect: boolean;
  creatorPid?: number;
  creatorAlive?: boolean;
  /** Registered participants whose process is alive / dead. */
  liveParticipants?: number;
  deadParticipants?: number;
  createdAt?: string;
  detail: string;
}

/** Process start time (clock ticks since boot, /proc/<pid>/stat field 22), or 0. */
export function procStart(pid: number): bigint {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return BigInt(f[19]!);
  } catch {
    return 0n;
  }
}

export function alive(pid: number, start: bigint): boolean {
  if (pid <= 0 || pid > 0x7fffffff) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const s = procStart(pid);
  return s !== 0n && s === start;
}

/** Every ferry.* file in /dev/shm (temporary ones included). */
export function segmentFiles(dir = SHM): string[] {
  try {
    return readdirSync(dir).filter((f) => f.startsWith(PREFIX)).sort();
  } catch {
    return [];
  }
}

export function judge(file: string, dir = SHM): Judgement | undefined {
  const path = `${dir}/${file}`;
  const name = file.slice(PREFIX.length);
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined; // vanished
  }
  const base = { name, file, bytes: st.size };
  const uid = process.geteuid?.() ?? -1;
  if (!st.isFile() || st.uid !== uid)
    return { ...base, state: "foreign", collect: false, detail: st.isFile() ? `owned by uid ${st.uid}: not ours to judge` : "not a regular file" };
  const tmp = /^~tmp\.(-?\d+)\./.exec(name);
  if (tmp) {
    const pid = Number(tmp[1]);
    let gone = pid <= 0;
    if (!gone) try { process.kill(pid, 0); } catch (e) { gone = (e as NodeJS.ErrnoException).code === "ESRCH"; }
    return { ...base, state: gone ? "stale" : "in use", collect: gone, creatorPid: pid, creatorAlive: !gone, detail: `temporary segment of pid ${pid} (${gone ? "gone" : "alive"})` };
  }
  if (Date.now() - st.mtimeMs < 2000 && st.size < PAGE) return { ...base, state: "too young", collect: false, detail: "being created (under 2 s old)" };
  let fd = -1;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    const fst = fstatSync(fd);
    if (fst.ino !== st.ino || fst.dev !== st.dev || !fst.isFile() || fst.uid !== uid) return { ...base, state: "in use", collect: false, detail: "replaced while looking" };
    const stale = (detail: string): Judgement => ({ ...base, state: "stale", collect: true, detail });
    if (fst.size < PAGE) return stale("not a ferry channel (smaller than its header)");
    const hdr = Buffer.alloc(PAGE);
    readSync(fd, hdr, 0, PAGE, 0);
    if (hdr.readBigUInt64LE(OFF.magic) !== MAGIC) return stale("not a ferry channel (bad magic)");
    const version = hdr.readUInt32LE(OFF.version);
    if (version !== LAYOUT) return { ...base, state: "unknown layout", collect: false, detail: `layout version ${version} (this ferry reads ${LAYOUT}): left alone; use the ferry that created it` };
    if (Number(hdr.readBigUInt64LE(OFF.segmentSize)) > fst.size) return stale("truncated (header larger than the file)");
    const creatorPid = hdr.readUInt32LE(OFF.creatorPid);
    const creatorAlive = alive(creatorPid, hdr.readBigUInt64LE(OFF.creatorStart));
    const createdAt = new Date(Number(hdr.readBigUInt64LE(OFF.createdNs) / 1_000_000n)).toISOString();
    const partsOff = Number(hdr.readBigUInt64LE(OFF.partsOff));
    const maxParts = hdr.readUInt32LE(OFF.maxParts);
    const szPart = hdr.readUInt32LE(OFF.szPart);
    let live = 0, dead = 0;
    if (szPart >= 16 && maxParts <= 1024 && partsOff + maxParts * szPart <= fst.size) {
      const parts = Buffer.alloc(maxParts * szPart);
      readSync(fd, parts, 0, parts.length, partsOff);
      for (let i = 0; i < maxParts; i++) {
        const o = i * szPart;
        if (parts.readUInt32LE(o) === 0) continue; // PART_FREE
        if (alive(parts.readUInt32LE(o + 4), parts.readBigUInt64LE(o + 8))) live++;
        else dead++;
      }
    } else return stale("corrupt header (participant table out of bounds)");
    const who = { creatorPid, creatorAlive, liveParticipants: live, deadParticipants: dead, createdAt };
    if (creatorAlive || live > 0) {
      return {
        ...base, ...who, state: creatorAlive ? "in use" : "creator dead", collect: false,
        detail: creatorAlive ? `creator pid ${creatorPid} alive; ${live} live participant(s)` : `creator pid ${creatorPid} is dead; ${live} live participant(s) keep it`,
      };
    }
    return { ...base, ...who, state: "stale", collect: true, detail: `creator pid ${creatorPid} and every participant (${dead} registered) are dead` };
  } catch (e) {
    return { ...base, state: "in use", collect: false, detail: `could not read it: ${(e as Error).message}` };
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Every segment judged: the plan `ferry gc` carries out and `ferry gc --dry-run` prints. */
export function plan(dir = SHM): Judgement[] {
  return segmentFiles(dir).map((f) => judge(f, dir)).filter((j): j is Judgement => j !== undefined);
}

/** Remove what `plan` marked, each only if it is still that file and still stale. */
export function collect(planned: Judgement[], dir = SHM): { removed: Judgement[]; skipped: { name: string; why: string }[] } {
  const removed: Judgement[] = [], skipped: { name: string; why: string }[] = [];
  for (const j of planned.filter((p) => p.collect)) {
    const again = judge(j.file, dir); // judged again right before: a channel re-created meanwhile is left alone
    if (!again?.collect) {
      skipped.push({ name: j.name, why: again ? `now ${again.state}` : "gone meanwhile" });
      continue;
    }
    try {
      unlinkSync(`${dir}/${j.file}`);
      removed.push(j);
    } catch (e) {
      skipped.push({ name: j.name, why: (e as Error).message });
    }
  }
  return { removed, skipped };
}
