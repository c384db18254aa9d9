/**
 * @ferry/coordinator — decides, per message, how `send()` moves it: mode
 * (inline, offload, pipelined, or offload split between the sending thread
 * and an engine), engine, chunk size, cache placement and wait strategy,
 * from a calibrated profile of this machine and an objective; explains why.
 *
 *   import { Coordinator } from "@ferry/coordinator";
 *   const co = await Coordinator.calibrate({ objective: "latency" }); // cached per machine + libferry build
 *   co.explain(64 * 2 ** 20);            // { mode, engine, chunkBytes, cache, wait, reasons, ... }
 *   const pub = ch.publisher({ coordinator: co });
 *   await pub.send(bytes);               // mode "auto": the coordinator decides
 *
 * Importing this package also makes the shared default coordinator the
 * process's default policy (@ferry/channel's setDefaultPolicy): publishers
 * without `policy` / `coordinator` then send "auto" through it (see
 * default.ts for the rule; setDefaultPolicy(defaultPolicy) undoes it).
 *
 * Files: coordinator (decisions, feedback, explain), calibrate (the
 * measurement), profile (points, prediction, the cache on disk), stats
 * (counters, histograms, fallbacks, snapshots for `ferry stat`), machine
 * (LLC, machine and library identity), default (the shared coordinator),
 * cli (text and JSON for `ferry explain` / `ferry stat`).
 */
import { setDefaultPolicy } from "@ferry/channel";
import { defaultCoordinatorPolicy } from "./default";

export {
  Coordinator, OBJECTIVES, SPLIT_MIN, engineFault, fmtNs, fmtSize, pipelinedChunk, resolveEngines,
  type CoordinatorOptions, type CoordinatorStats, type Estimate, type ExplainOptions, type Explanation, type Objective,
} from "./coordinator";
export { calibrateShared, defaultCoordinatorPolicy, resetSharedCoordinator, sharedCoordinator } from "./default";
export {
  CACHE_KEEP, CALIBRATION_METHOD, DEFAULT_SIZES, cacheDir, cacheFile, curveAt, curveOf, curveSlope, linear, loadCached, perByte, predict, saveCached, syntheticProfile,
  type Curve, type EngineProfile, type Profile, type Series,
} from "./profile";
export { balancedShare, measureProfile, type CalibrationEngine } from "./calibrate";
export { HIST_BUCKETS, readSharedStats, statsDir, type ChoiceStats, type FallbackKind, type FallbackRecord, type ProcessStats } from "./stats";
export { libraryKey, llcBytes, llcText, machineKey, threadCpuNs, type LibraryKey, type MachineKey } from "./machine";
export { explainJson, explainText, parseSize, statsJson, statsText } from "./cli";

if (process.env.FERRY_COORD_DEFAULT !== "0") setDefaultPolicy(defaultCoordinatorPolicy);
