/**
 * @ferry/mq — a message-queue adapter over NATS JetStream and Redis Streams.
 * On one host the broker carries only a reference (a claim check) to a
 * payload pinned in shared memory; across hosts it carries the payload in
 * chunks. See docs/mq.md.
 */
import { Bus } from "./bus";
import { NatsTransport } from "./nats";
import { RedisTransport } from "./redis";
import { MqError } from "./types";

export { Bus, Consumer, MqLoan, Producer } from "./bus";
export { hostId, digestOf, RefError } from "./local";
export {
  MqError,
  type ConsumerOptions, type ConsumerStats, type Header, type Message, type MqErrorCode, type ProducerOptions, type ProducerStats,
} from "./types";

/** Connect to a broker: `nats://host:port` (JetStream) or `redis://host:port`. */
export async function connect(url: string): Promise<Bus> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new MqError("INVALID", `not a URL: "${url}"`);
  }
  if (u.protocol === "nats:") return new Bus(await NatsTransport.connect(u));
  if (u.protocol === "redis:") return new Bus(await RedisTransport.connect(u));
  throw new MqError("INVALID", `unsupported broker "${u.protocol}//" (use nats:// or redis://)`);
}
