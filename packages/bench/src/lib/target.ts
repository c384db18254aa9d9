/** A target line: a goal (<= or >= a limit), the measured value, PASS/MISS and the gap. */
import type { Target } from "../schema";
import { fmtRatio } from "./format";

export interface Goal {
  id: string;
  name: string;
  limit: number;
  /** Formats the limit, the value and (for "<=") the excess. */
  fmt: (x: number) => string;
  /** Context from the same run; kept even when the value was not measured. */
  note?: string;
}

export function target(cmp: "<=" | ">=", g: Goal, value: number | undefined): Target {
  const { id, name, limit, fmt, note } = g;
  const goal = `${cmp} ${fmt(limit)}`;
  if (value === undefined || !Number.isFinite(value)) return { id, name, goal, measured: "n/a", status: "not measured", gap: "", note };
  const pass = cmp === "<=" ? value <= limit : value >= limit;
  const gap =
    cmp === "<="
      ? pass
        ? `${fmtRatio(limit / value)} headroom`
        : `${fmtRatio(value / limit)} over the target (${fmt(value - limit)} too slow)`
      : pass
        ? `${fmtRatio(value / limit)} above the target`
        : `needs ${fmtRatio(limit / value)} more`;
  return { id, name, goal, measured: fmt(value), status: pass ? "PASS" : "MISS", gap, note };
}
