/**
 * What a section of the harness is (libuv's BENCHMARK_DECLARE, one file per
 * section under sections/): its config from the command line, the
 * measurement, the tables it prints, the targets it owns and its plot.
 * run.ts runs the selected sections in registry order (sections/index.ts).
 */
import type { Machine, Results, SectionName, Target } from "./schema";

export type Log = (s?: string) => void;

/** The command line, as every section sees it. */
export interface Options {
  quick: boolean;
  /** The sections --only named, or null (all). */
  only: SectionName[] | null;
  callgrind: boolean;
  /** performance.now() ms by which the whole run should be done (the C benches get what is left). */
  deadline: number;
}

/** What targets and plots may read: every section's result of this run. */
export interface Context {
  results: Partial<Results>;
  machine: Machine;
  options: Options;
  /** ISO date of the run. */
  date: string;
}

/** A plot a section writes: bench-results/<stamp>-<tag>.svg, latest-<tag>.svg, and `docs` (a repo path) when set. */
export interface Plot {
  tag: string;
  svg: string;
  docs: string | null;
}

export interface Section<N extends SectionName = SectionName, C = unknown> {
  name: N;
  /** The heading: "1. one-way latency, ...". */
  title: string;
  /** true: its targets are listed even when the section was not selected ("not measured"). */
  alwaysTargets: boolean;
  /** Its field of the results JSON when it did not run or failed. */
  empty(): Results[N];
  /** The config of this run; `done` holds the results of the sections that ran before. */
  config(o: Options, done: Partial<Results>): C;
  run(cfg: C, log: Log): Promise<Results[N]>;
  /** The tables and notes printed after the run. */
  table(result: Results[N]): string;
  /** Its targets, also when it did not run or failed (result undefined). */
  targets(result: Results[N] | undefined, ctx: Context): Target[];
  plot?(result: Results[N] | undefined, ctx: Context): Plot | null;
}

/** Declare a section (keeps N and C checked inside, erases them for the registry). */
export function section<N extends SectionName, C>(s: Section<N, C>): Section {
  return s as unknown as Section;
}
