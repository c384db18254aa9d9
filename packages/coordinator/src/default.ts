/**
 * The shared default coordinator: what mode "auto" (and send() without a
 * mode) means for publishers created without `policy` / `coordinator`, once
 * @ferry/coordinator is imported in the process (index.ts installs
 * `defaultCoordinatorPolicy` with @ferry/channel's setDefaultPolicy()).
 *
 * The rule: the first decision loads the cached profile of this machine and
 * library build (objective $FERRY_OBJECTIVE, default latency). Without one,
 * decisions are inline (the baseline) while a calibration runs in the
 * background (<= 1 s, once per machine and library build: it is cached);
 * then the calibrated coordinator takes over. FERRY_COORD_CALIBRATE=0 turns
 * the background calibration off (then: inline until a calibration is
 * cached, e.g. by `ferry explain` or Coordinator.calibrate()).
 */
import type { FastInline, Publisher, SendContext, SendDecision, SendPolicy, SendReport } from "@ferry/channel";
import { Coordinator, OBJECTIVES, type Objective } from "./coordinator";
import { syntheticProfile } from "./profile";

let shared: Coordinator | null = null;
let calibrating: Promise<Coordinator> | null = null;

function envObjective(): Objective {
  const o = process.env.FERRY_OBJECTIVE as Objective | undefined;
  return o && OBJECTIVES.includes(o) ? o : "latency";
}

/** The process's shared coordinator (see the rule above); never measures in the caller's turn. */
export function sharedCoordinator(): Coordinator {
  if (shared) return shared;
  const objective = envObjective();
  const c = Coordinator.fromCache({ objective });
  if (c.coordinator) return (shared = c.coordinator);
  // no calibration yet: inline only, and calibrate in the background
  const none = syntheticProfile({ inlineHot: [[64, 1]] });
  const background = process.env.FERRY_COORD_CALIBRATE !== "0";
  shared = new Coordinator(none, {
    objective, source: "none",
    note: `${c.why}: every auto send is inline until a calibration exists${background ? "; calibrating in the background" : " (FERRY_COORD_CALIBRATE=0)"}`,
  });
  if (background) calibrateShared().catch(() => {});
  return shared;
}

/** Calibrate the shared coordinator now (or join the calibration under way); it takes over when done. */
export function calibrateShared(): Promise<Coordinator> {
  calibrating ??= (async () => {
    // let the caller's turn finish first: the measurement needs the event loop
    await new Promise((r) => setTimeout(r, 0));
    const co = await Coordinator.calibrate({ objective: shared?.objective ?? envObjective() });
    shared = co;
    return co;
  })().finally(() => {
    calibrating = null;
  });
  return calibrating;
}

/** Forget the shared coordinator (tests; the next decision loads the cache again). */
export function resetSharedCoordinator(): void {
  shared = null;
}

/**
 * The SendPolicy installed as the process default: it asks the shared coordinator, the fast tier and
 * remembered decisions included, so a send() without a mode costs what one through
 * `publisher({ coordinator })` does (without them every send went through decide() and observe(): 64 B
 * sent and received in one process took ~500 ns against ~300-340 ns; the bench's tools/default-policy.ts).
 * A decision taken before the shared coordinator was replaced (its first, uncalibrated one: no engines,
 * inline only) is settled by the new one: its stats and what its inline copy teaches go there.
 */
export const defaultCoordinatorPolicy: SendPolicy = Object.freeze({
  decide: (size: number, ctx: SendContext): SendDecision => sharedCoordinator().decide(size, ctx),
  observe: (r: SendReport) => sharedCoordinator().observe(r),
  retryInline: (e: Error) => sharedCoordinator().retryInline(e),
  get fastInline(): FastInline {
    return sharedCoordinator().fastInline;
  },
  remembered: Object.freeze({
    take: (size: number, pub: Publisher): SendDecision | null => sharedCoordinator().remembered.take(size, pub),
    settled: (d: SendDecision, size: number, ns: number, syncNs: number): void => sharedCoordinator().remembered.settled(d, size, ns, syncNs),
  }),
});
