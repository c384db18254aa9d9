/**
 * @ferry/channel — zero-copy shared-memory channels between Bun processes.
 *
 *   const ch = Channel.create("frames", { capacity: 512 * 2 ** 20 });
 *   const pub = ch.publisher({ backpressure: "block" });
 *   const loan = pub.loan(size); loan.bytes.set(data); pub.publish(loan, { header: { shape } });
 *   const sub = Channel.open("frames").subscribe({ wait: "hybrid" });
 *   for await (const msg of sub) { use(msg.bytes, msg.header); msg.release(); }
 *
 * One FFI call per loan / publish / receive / release; results come back in a
 * preallocated struct; the arena is mapped once as an ArrayBuffer and every
 * message view is a Uint8Array over it (no FFI per view).
 *
 * Files: types (option and mode names), handle (life cycle), channel,
 * publisher (loans, inline copies), policy (what "auto" means), send (engine
 * sends), subscriber, message, tensor (typed views, tensor header),
 * header (codecs), views (result record, arena views), waker (wake sources),
 * poll (the backoff of the rendezvous waits).
 */
export { Channel } from "./channel";
export { Loan, Publisher } from "./publisher";
export { Subscriber, type Listener } from "./subscriber";
export { Message } from "./message";
export {
  DTYPES, PAYLOAD_ALIGN, dtypeOf, loanTensor, sendTensor, sendTensorSync, tensorHeader, type DType, type DTypeArray,
  type Tensor, type TensorHeader, type TensorLoan, type TensorSendOptions, type TypedArray, type TypedArrayConstructor,
  type ViewOptions,
} from "./tensor";
export {
  defaultPolicy, getDefaultPolicy, setDefaultPolicy, type FastInline, type Remembered, type SendContext, type SendDecision, type SendPolicy, type SendReport,
} from "./policy";
export type {
  BackpressurePolicy, CachePlacement, ChannelStats, CreateOptions, EngineLike, Header, Mode, OpenOptions,
  PublishOptions, PublisherOptions, ReadyOptions, ReceiveOptions, SendOptions, SubscribeOptions, TrustOptions,
  WaitForOptions, WaitForSubscribersOptions, WaitStrategy,
} from "./types";

export { Engine, type EngineCaps, type EngineConfig, type EngineProbe, type EngineStats } from "@ferry/native";
export { FerryError, Errno, FAULT_EXIT, GROUP_MAX, HEADER_MAX, INLINE_MAX, MAX_HELD } from "@ferry/native";
export type { FerryErrorCode } from "@ferry/native";
