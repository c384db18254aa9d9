/**
 * What mode "auto" means in this app: the SendPolicy every worker's tensor
 * publisher is created with (publisher({ policy })): @ferry/coordinator's
 * Coordinator, calibrated on this machine for latency (the profile is cached
 * per machine and libferry build, so only the first run measures, <= 1 s).
 */
import type { SendPolicy } from "@ferry/channel";
import { Coordinator } from "@ferry/coordinator";

export async function autoPolicy(): Promise<SendPolicy> {
  return Coordinator.calibrate({ objective: "latency" });
}
