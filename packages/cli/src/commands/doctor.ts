/**
 * ferry doctor: can ferry work on this machine, and if not, what to do.
 * Each check: ok | warn | fail | info, a detail, and advice where there is
 * something to do. Exit 1 when any check fails. Works without libferry (that
 * is then one failed check with the loader's advice).
 */
import type { Command } from "commander";
import { accessSync, constants as C, existsSync, readFileSync, statfsSync, statSync } from "node:fs";
import { libraryError, loadFerry, optional } from "../lib/native";
import { emit, fmtBytes, table } from "../lib/output";

export type Status = "ok" | "warn" | "fail" | "info";
export interface Check {
  check: string;
  status: Status;
  detail: string;
  advice?: string;
}

/** Default channel: Channel.create(name) without options (64 MiB arena, 4096 slots). */
export const DEFAULT_CAPACITY = 64 * 2 ** 20;
/** Fallback for the control block + ring + participant tables when libferry cannot be asked. */
const OVERHEAD_ESTIMATE = 2 ** 20;

/**
 * Does a channel of `need` bytes fit into a /dev/shm of `total` bytes with
 * `free` left? The advice names the flags that give a container more.
 */
export function shmCheck(total: number, free: number, need: number, what = "a default channel (64 MiB arena)"): Check {
  const want = Math.max(2 ** 30, 2 ** Math.ceil(Math.log2(need * 2)));
  const advice =
    `give /dev/shm more room: \`docker run --shm-size=${want >= 2 ** 30 ? `${want / 2 ** 30}g` : `${want / 2 ** 20}m`}\` (or \`--ipc=host\` to share the host's); ` +
    `docker compose: \`shm_size: "${want >= 2 ** 30 ? `${want / 2 ** 30}gb` : `${want / 2 ** 20}mb`}"\`; Kubernetes: an emptyDir volume with medium: Memory mounted at /dev/shm; ` +
    `or create smaller channels: Channel.create(name, { capacity })`;
  if (total < need)
    return { check: "/dev/shm size", status: "fail", detail: `/dev/shm is ${fmtBytes(total)}: ${what} needs ${fmtBytes(need)} and cannot be created (Docker's default is 64 MB)`, advice };
  if (free < need)
    return { check: "/dev/shm size", status: "warn", detail: `/dev/shm has ${fmtBytes(free)} free of ${fmtBytes(total)}: ${what} needs ${fmtBytes(need)}`, advice: `free space (\`ferry gc\` removes dead channels) or ${advice}` };
  return { check: "/dev/shm size", status: "ok", detail: `${fmtBytes(free)} free of ${fmtBytes(total)}; ${what} needs ${fmtBytes(need)} (${Math.floor(free / need)} fit)` };
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export async function doctor(): Promise<Check[]> {
  const out: Check[] = [];
  // the library
  let overhead = OVERHEAD_ESTIMATE, lib = false;
  try {
    const { native, channel } = await loadFerry();
    lib = true;
    out.push({ check: "libferry", status: "ok", detail: `${native.version} (ABI ${native.abiVersion}) at ${native.findLibrary()}` });
    // what a default channel costs beyond its arena: ask a small one with the default ring
    const probeName = `doctor.${process.pid}`;
    try {
      using ch = channel.Channel.create(probeName, { capacity: 64 * 1024 });
      overhead = statSync(`/dev/shm/ferry.${probeName}`).size - ch.capacity || overhead;
    } catch {}
  } catch (e) {
    const err = libraryError(e);
    out.push({ check: "libferry", status: "fail", detail: (err?.message ?? String(e)).split("\n").slice(0, -1).join("\n") || String(e), advice: err?.message.split("\n").at(-1) });
  }
  // glibc
  const glibc = (process as unknown as { report?: { getReport(): { header?: { glibcVersionRuntime?: string } } } }).report?.getReport().header?.glibcVersionRuntime;
  out.push(
    glibc
      ? { check: "C library", status: Bun.semver.order(`${glibc}.0`.split(".").slice(0, 3).join("."), "2.34.0") >= 0 ? "ok" : "warn", detail: `glibc ${glibc}; the prebuilt libferry needs glibc >= 2.34`, ...(Bun.semver.order(`${glibc}.0`.split(".").slice(0, 3).join("."), "2.34.0") < 0 ? { advice: "build from source: `bun run --cwd node_modules/@ferry/native build:source`" } : {}) }
      : { check: "C library", status: "info", detail: "not glibc (musl?): no prebuilt; @ferry/native builds from source (`bun run --cwd node_modules/@ferry/native build:source`)" },
  );
  // /dev/shm: present, writable, big enough
  let shmOk = false;
  try {
    const st = statSync("/dev/shm");
    shmOk = st.isDirectory();
    out.push({ check: "/dev/shm", status: shmOk ? "ok" : "fail", detail: shmOk ? `present (mode ${(st.mode & 0o7777).toString(8)})` : "not a directory" });
  } catch {
    out.push({ check: "/dev/shm", status: "fail", detail: "missing: POSIX shared memory is unavailable", advice: "mount a tmpfs at /dev/shm (containers: --ipc=shareable or --shm-size)" });
  }
  if (shmOk) {
    try {
      accessSync("/dev/shm", C.W_OK);
      out.push({ check: "permissions", status: "ok", detail: `/dev/shm is writable by uid ${process.geteuid?.()}; channels are created mode 0600 (other users need Channel.create(name, { mode }) and open's trust options)` });
    } catch {
      out.push({ check: "permissions", status: "fail", detail: `/dev/shm is not writable by uid ${process.geteuid?.()}`, advice: "run as a user who may write /dev/shm, or fix its mode (1777 normally)" });
    }
    const s = statfsSync("/dev/shm");
    const fake = Number(process.env.FERRY_DOCTOR_SHM_BYTES); // tests: pretend /dev/shm has this size
    const total = fake > 0 ? fake : s.blocks * s.bsize;
    const free = fake > 0 ? fake : s.bavail * s.bsize;
    out.push(shmCheck(total, free, DEFAULT_CAPACITY + overhead));
  }
  // huge pages
  const thp = read("/sys/kernel/mm/transparent_hugepage/shmem_enabled")?.match(/\[(\w+)\]/)?.[1];
  const meminfo = read("/proc/meminfo") ?? "";
  const hp = Number(meminfo.match(/^HugePages_Total:\s+(\d+)/m)?.[1] ?? 0);
  out.push({
    check: "huge pages", status: "info",
    detail: `transparent huge pages for shmem: ${thp ?? "unknown"}; reserved huge pages: ${hp}. Ferry maps /dev/shm with normal pages and pre-faults them; ` +
      (thp && thp !== "never" && thp !== "deny" ? "THP may back large arenas" : "large arenas use 4 KiB pages (more TLB misses on GiB arenas)"),
    ...(thp === "never" ? { advice: "for GiB arenas: echo advise > /sys/kernel/mm/transparent_hugepage/shmem_enabled (root)" } : {}),
  });
  // CPU
  const cpu = read("/proc/cpuinfo") ?? "";
  const flags = new Set((cpu.match(/^flags\s*:(.*)$/m)?.[1] ?? "").trim().split(/\s+/));
  out.push({ check: "CPU", status: "info", detail: `${cpu.match(/^model name\s*:(.*)$/m)?.[1]?.trim() ?? "unknown"}; ${["avx2", "avx512f", "movdir64b", "enqcmd"].map((f) => `${f}=${flags.has(f) ? "yes" : "no"}`).join(" ")}` });
  // engines, through their own probes
  if (lib) {
    const sw = await optional<{ detect(): { available: boolean; reason: string; threads: number } }>("@ferry/sw-engine");
    if (sw.mod) {
      const d = sw.mod.detect();
      out.push({ check: "engine sw", status: d.available ? "ok" : "warn", detail: `${d.available ? "available" : "unavailable"}: ${d.reason}` });
    } else out.push({ check: "engine sw", status: "info", detail: sw.why ?? "" });
    const dsa = await optional<{ detect(): { available: boolean; reason: string } }>("@ferry/dsa-engine");
    if (dsa.mod) {
      const d = dsa.mod.detect();
      out.push({ check: "engine dsa", status: "info", detail: d.available ? `available: ${d.reason}` : `not available, dsaEngine() falls back to sw: ${d.reason}` });
    } else out.push({ check: "engine dsa", status: "info", detail: dsa.why ?? "" });
  }
  if (existsSync("/.dockerenv") || /docker|kubepods|containerd/.test(read("/proc/1/cgroup") ?? ""))
    out.push({ check: "container", status: "info", detail: "running in a container: processes that share channels need the same /dev/shm (same container, or --ipc=shareable / --ipc=container:<id> / --ipc=host)" });
  return out;
}

export function register(program: Command): void {
  program
    .command("doctor")
    .description("check this machine: libferry, glibc, /dev/shm (presence, permissions, size vs a default channel), huge pages, CPU, engines")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const checks = await doctor();
      const ok = !checks.some((c) => c.status === "fail");
      emit(o.json, { ok, checks }, () =>
        [
          table(["", "check", "detail"], checks.map((c) => [c.status === "ok" ? "ok" : c.status.toUpperCase(), c.check, c.detail.replace(/\n/g, " ")])),
          ...checks.filter((c) => c.advice).map((c) => `${c.check}: ${c.advice}`),
        ].join("\n"),
      );
      process.exitCode = ok ? 0 : 1;
    });
}
