/**
 * What mode "auto" means in this app: the SendPolicy every worker's tensor
 * publisher is created with (publisher({ policy })). Today it is the
 * channel's default policy (an inline copy). @ferry/coordinator's
 * Coordinator is a SendPolicy too: returning
 *   await Coordinator.calibrate({ objective: "latency" })
 * here is the one line that makes "auto" calibrated on this machine.
 */
import { defaultPolicy, type SendPolicy } from "@ferry/channel";

export async function autoPolicy(): Promise<SendPolicy> {
  return defaultPolicy;
}
