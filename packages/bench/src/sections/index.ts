/** The section registry: run.ts runs the selected ones in this order (peers reuses latency's 64 B rows). */
import type { Section } from "../section";
import type { SectionName } from "../schema";
import { c } from "./c";
import { coordinator } from "./coordinator";
import { floor } from "./floor";
import { http } from "./http";
import { idle } from "./idle";
import { latency } from "./latency";
import { modes } from "./modes";
import { mq } from "./mq";
import { peers } from "./peers";
import { throughput } from "./throughput";

export const SECTIONS: Section[] = [floor, latency, throughput, peers, c, modes, idle, http, coordinator, mq];

/** The order of the targets table: the headline ratios (peers, throughput) first, then latency, C, modes. */
export const TARGET_ORDER: SectionName[] = ["peers", "throughput", "latency", "floor", "idle", "c", "modes", "http", "coordinator", "mq"];
