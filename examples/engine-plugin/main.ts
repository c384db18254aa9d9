// An engine plugin: `bun main.ts` compiles engine.c (needs cc) against the
// headers shipped in @ferry/native and the libferry this process loaded,
// registers it with Engine.load(), and sends through it in offload mode.
import { dirname, join } from "node:path";
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { Channel } from "@ferry/channel";
import { Engine, findLibrary } from "@ferry/native";

const include = join(dirname(Bun.resolveSync("@ferry/native/package.json", import.meta.dir)), "include");
const lib = findLibrary(); // the libferry.so this process uses: the plugin links against it (by soname)
const out = join(tmpdir(), `ferry-example-engine-${process.getuid?.() ?? 0}`);
mkdirSync(out, { recursive: true });
const so = join(out, "libferry_engine_example.so");
const cc = Bun.spawnSync(["cc", "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-std=c11", `-I${include}`, "-o", so, join(import.meta.dir, "engine.c"), lib], { stderr: "inherit" });
if (cc.exitCode !== 0 || !existsSync(so)) throw new Error("engine-plugin: cc failed");

const name = Engine.load(so); // "example": channels now accept it like a built-in
using engine = new Engine(name);
const chName = process.env.FERRY_EXAMPLE_CHANNEL ?? `example.plugin.${process.pid}`;
using ch = Channel.create(chName, { capacity: 16 * 2 ** 20 });
const pub = ch.publisher({ engine });
const sub = ch.subscribe();
await pub.send(new Uint8Array(4 * 2 ** 20).fill(3), { mode: "offload" });
const msg = await sub.receive();
console.log(`engine ${name}: ${msg.bytes.byteLength} bytes, last byte ${msg.bytes[msg.bytes.length - 1]}; stats ${JSON.stringify(engine.stats(), (_, v) => (typeof v === "bigint" ? Number(v) : v))}`);
msg.release();
sub.close();
pub.close();
