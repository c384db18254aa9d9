/**
 * The setup and teardown every channel measurement shares: a data channel
 * this process publishes on, an ack channel it subscribes to, and the peer
 * process (roles/main.ts <role> <data> <ack> ...args) between them.
 *
 *   await using s = new Session({ role: "sink", data: {...}, ack: {...}, ackWait: "spin" });
 *   await s.peer.ready;
 *   ... measure ...
 *   await s.end();            // end of stream: the peer drains and exits
 *
 * Disposal closes everything and kills the peer, also when the measurement threw.
 */
import type { Channel, Publisher, PublisherOptions, Subscriber, WaitStrategy } from "@ferry/channel";
import { createChannel } from "./cleanup";
import { finish, spawnPeer, type Peer } from "./procs";

export interface ChannelSpec {
  tag: string;
  capacity: number;
  slots: number;
}

export interface SessionOptions {
  role: string;
  data: ChannelSpec;
  ack: ChannelSpec;
  /** How this process waits on the ack channel. */
  ackWait: WaitStrategy;
  /** The data publisher's engine (offload / pipelined sends). */
  engine?: PublisherOptions["engine"];
  /** Peer arguments after the two channel names. */
  args?: (string | number)[];
}

export class Session implements AsyncDisposable {
  readonly data: Channel;
  readonly ack: Channel;
  readonly pub: Publisher;
  readonly ackSub: Subscriber;
  readonly peer: Peer;

  constructor(o: SessionOptions) {
    this.data = createChannel(o.data.tag, { capacity: o.data.capacity, slots: o.data.slots });
    this.ack = createChannel(o.ack.tag, { capacity: o.ack.capacity, slots: o.ack.slots });
    this.pub = this.data.publisher({ backpressure: "block", timeoutMs: -1, engine: o.engine });
    this.ackSub = this.ack.subscribe({ wait: o.ackWait });
    this.peer = spawnPeer(o.role, [this.data.name, this.ack.name, ...(o.args ?? [])]);
  }

  /**
   * The next ack of a "recv" peer (roles/ferry.ts recv): the monotonic ns (lib/msg.ts monoNs) at which it had
   * processed the whole message, and the ns its work took.
   */
  async recvAck(): Promise<[doneNs: number, workNs: number]> {
    const a = await this.ackSub.receive();
    const f = new Float64Array(a.bytes.slice(0, 16).buffer);
    a.release();
    return [f[0]!, f[1]!];
  }

  /** End of stream: close the publisher and wait (10 s at most) until the peer has exited. */
  async end(): Promise<unknown> {
    this.pub.close();
    return finish(this.peer, 10_000);
  }

  async [Symbol.asyncDispose]() {
    this.pub.close();
    this.ackSub.close();
    this.data.close();
    this.ack.close();
    this.peer.proc.kill(9);
  }
}
