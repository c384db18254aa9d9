/**
 * Remembered decisions (SendPolicy.remembered): a publisher follows a
 * decision the coordinator remembered for the size and load without calling
 * decide() or observe(); the stats still count every send and the learning
 * goes on (settled()); a change of an engine's health makes the publisher
 * ask decide() again, and a remembered send that fails goes the full way
 * (retried inline, reported to observe(), the fallback recorded with its
 * reason). Remembered decisions from 8 MiB up carry the band in which the
 * learnt inline correction may move before the choice could change, and
 * every remembered decision the band the engines' learnt rates may move in.
 */
import { describe, expect, test } from "bun:test";
import { Channel, Engine, defaultPolicy, type SendContext, type SendReport } from "@ferry/channel";
import { registerCleanup, uniqueName } from "@ferry/testkit";
import { Coordinator, linear, syntheticProfile } from "./entry";
import { MiB, loadSlowplug, profileOf } from "./helpers";

registerCleanup();

/** Count decide() and observe() calls of `c` (instance properties shadow the methods). */
function spy(c: Coordinator) {
  const calls = { decide: 0, observe: [] as SendReport[] };
  const decide = c.decide.bind(c);
  const observe = c.observe.bind(c);
  c.decide = (n, ctx) => (calls.decide++, decide(n, ctx));
  c.observe = (r) => {
    calls.observe.push(r);
    observe(r);
  };
  return calls;
}

describe("remembered decisions", () => {
  test("a stream of same-sized engine sends: decided once, then followed without decide() or observe(); every send counted", async () => {
    // objective cpu: a 512 KiB send costs the sender 20 µs on the engine vs ~53 µs inline (below 1 MiB no send teaches the engine's rate)
    const c = new Coordinator(profileOf(10, [{ label: "sw", fixedUs: 30, gbps: 20 }]), { objective: "cpu", split: false });
    using ch = Channel.create(uniqueName("co-remember"), { capacity: 16 * MiB, slots: 64 });
    const pub = ch.publisher({ coordinator: c });
    const sub = ch.subscribe({ wait: "spin" });
    const calls = spy(c);
    const size = 512 * 1024;
    for (let i = 0; i < 6; i++) await pub.send(new Uint8Array(size).fill(i + 1));
    for (let i = 0; i < 6; i++) {
      const m = sub.tryReceive()!;
      expect(m.bytes.length).toBe(size);
      expect(m.bytes[0]).toBe(i + 1);
      expect(m.bytes[size - 1]).toBe(i + 1);
      m.release();
    }
    // the first send decided (and was observed); later ones took the remembered decision (a second decide() when
    // "is a receiver waiting" changed its answer: the messages queue here, read only at the end)
    expect(calls.decide).toBeGreaterThanOrEqual(1);
    expect(calls.decide).toBeLessThanOrEqual(2);
    expect(calls.observe.length).toBe(calls.decide);
    const s = c.stats();
    expect(s.decisions).toBe(6);
    expect(s.decidedAfresh).toBeGreaterThanOrEqual(1);
    expect(s.decidedAfresh).toBeLessThanOrEqual(calls.decide);
    expect(s.choices["offload/sw"]?.messages ?? s.choices["pipelined/sw"]?.messages).toBe(6);
    expect(s.total.messages).toBe(6);
    expect(s.engines.sw!.inflight).toBe(0);
    expect(s.engines.sw!.inflightBytes).toBe(0);
    pub.close();
  });

  test("take(): only the same size and backlog, healthy engines, never below the fast tier; settled() teaches like observe()", () => {
    const c = new Coordinator(profileOf(10, [{ label: "sw", fixedUs: 30, gbps: 20 }]), { objective: "cpu", split: false });
    using ch = Channel.create(uniqueName("co-take"), { capacity: MiB });
    const pub = ch.publisher({ policy: defaultPolicy });
    const ctx: SendContext = { channel: ch, publisher: pub, engine: pub.engine, options: {} };
    const size = 4 * MiB;
    const pred = 30_000 + size / 20; // the profile's offload of 4 MiB
    expect(c.remembered.take(size, pub)).toBeNull(); // nothing decided yet
    const d = c.decide(size, ctx); // (charged: one send in flight)
    expect(d.mode).toBe("offload");
    expect(c.remembered.take(size, pub)).toBeNull(); // decided with nothing queued; now 4 MiB are
    c.remembered.settled(d, size, pred, 30_000); // as profiled: nothing to learn
    expect(c.stats().engines.sw!.inflightBytes).toBe(0);
    const taken = c.remembered.take(size, pub);
    expect(taken).toBe(d); // the same remembered object, charged like decide()'s
    expect(c.stats().engines.sw!.inflightBytes).toBe(size);
    expect(c.stats().decisions).toBe(2);
    expect(c.remembered.take(size + 1, pub)).toBeNull();
    expect(c.remembered.take(1024, pub)).toBeNull(); // the fast tier's sizes
    // sends that ran alone and took 2x the profile: the engine's rate is learnt once they are the median of
    // the last five (the third); what was remembered stands inside its band (1.5x: objective cpu, the offload
    // costs the sender 20 µs against inline's 420 µs at any rate), and goes stale outside it
    c.remembered.settled(taken!, size, 2 * pred, 30_000);
    c.remembered.settled(c.remembered.take(size, pub)!, size, 2 * pred, 30_000);
    expect(c.stats().engines.sw!.rateCorrection).toBe(1);
    c.remembered.settled(c.remembered.take(size, pub)!, size, 2 * pred, 30_000);
    expect(c.stats().engines.sw!.rateCorrection).toBe(1.5);
    const inBand = c.remembered.take(size, pub);
    expect(inBand).toBe(d);
    c.remembered.settled(inBand!, size, 2 * pred, 30_000);
    expect(c.stats().engines.sw!.rateCorrection).toBe(1.75);
    expect(c.stats().choices["offload/sw"]!.messages).toBe(5);
    expect(c.remembered.take(size, pub)).toBeNull();
    const fresh = c.decide(size, ctx);
    // a failure reported through observe() makes the engine unhealthy: nothing is taken until decide() looked again
    c.observe({ size, decision: fresh, engine: "sw", error: Object.assign(new Error("engine copy failed"), { code: "FERRY_E_SYS" }), ns: 1, syncNs: 1 });
    expect(c.stats().engines.sw!.health).toBe("failing");
    expect(c.remembered.take(size, pub)).toBeNull();
    expect(c.decide(size, ctx).mode).toBe("inline");
    expect(c.stats().fallbacks.byKind["engine failing: sw"]).toBe(2); // the failure, then the decision that avoided the engine
  });

  test("take(): a stream's engine decision is taken again at the same backlog (the last one kept apart), never for a closed engine", () => {
    const e = new Engine("sw", { threads: 1 });
    const c = new Coordinator(profileOf(10, [{ label: "mine", fixedUs: 30, gbps: 20 }]), { objective: "cpu", split: false, engineMap: new Map([["mine", e]]) });
    using ch = Channel.create(uniqueName("co-take-stream"), { capacity: MiB });
    const pub = ch.publisher({ policy: defaultPolicy });
    const ctx: SendContext = { channel: ch, publisher: pub, engine: pub.engine, options: {} };
    const size = 4 * MiB;
    const first = c.decide(size, ctx); // nothing queued
    const queued = c.decide(size, ctx); // one send queued ahead
    expect(queued.mode).toBe("offload");
    expect(queued.engine).toBe(e);
    c.remembered.settled(first, size, 300_000, 30_000);
    // a stream with one send always in flight: each take finds the same backlog, and is charged like decide()
    let prev = queued;
    for (let i = 0; i < 4; i++) {
      const t = c.remembered.take(size, pub);
      expect(t).toBe(queued);
      expect(c.stats().engines.mine!.inflightBytes).toBe(2 * size);
      c.remembered.settled(prev, size, 300_000, 30_000);
      prev = t!;
    }
    expect(c.remembered.take(size, pub)).toBe(queued);
    expect(c.stats().engines.mine!.inflightBytes).toBe(2 * size);
    // two sends queued ahead now: no decision was made at that backlog, so none is taken (the last one's was one)
    expect(c.remembered.take(size, pub)).toBeNull();
    c.remembered.settled(prev, size, 300_000, 30_000);
    e.close();
    expect(c.remembered.take(size, pub)).toBeNull(); // closed: the publisher asks decide(), which records the fallback
    expect(c.decide(size, ctx).mode).toBe("inline");
    expect(c.stats().fallbacks.byKind["engine gone: mine"]).toBe(1);
    expect(c.stats().decisions).toBe(8);
  });

  test("take(): a remembered inline decision stands only while nothing it was decided on moved (the last one is kept apart)", () => {
    // objective latency, engine idle: an engine mode beats inline (419 µs) at 4 MiB; behind a 4 MiB backlog (+210 µs) inline wins
    const c = new Coordinator(profileOf(10, [{ label: "sw", fixedUs: 30, gbps: 20 }]), { objective: "latency", split: false });
    using ch = Channel.create(uniqueName("co-take-last"), { capacity: MiB });
    const pub = ch.publisher({ policy: defaultPolicy });
    const ctx: SendContext = { channel: ch, publisher: pub, engine: pub.engine, options: {} };
    const size = 4 * MiB;
    const queue = () => {
      const eng = c.decide(size, ctx); // charged: 4 MiB queued on sw
      expect(eng.mode).not.toBe("inline");
      const inl = c.decide(size, ctx);
      expect(inl.mode).toBe("inline");
      return { eng, inl };
    };
    const { eng, inl } = queue();
    for (let i = 0; i < 3; i++) expect(c.remembered.take(size, pub)).toBe(inl); // the memo table, then the last one kept apart
    expect(c.stats().engines.sw!.inflightBytes).toBe(size); // inline charges nothing
    expect(c.remembered.take(size + 4096, pub)).toBeNull(); // another size
    c.remembered.settled(eng, size, 250_000, 30_000); // the backlog is gone
    const after = c.remembered.take(size, pub);
    expect(after).not.toBe(inl); // nothing queued now: not the inline decision made behind the backlog
    if (after !== null) c.remembered.settled(after, size, 250_000, 30_000);
    const again = queue();
    expect(c.remembered.take(size, pub)).toBe(again.inl);
    expect(c.remembered.take(size, pub)).toBe(again.inl);
    // a failure makes the engine unhealthy (the version moves): nothing is taken, the last one included
    c.observe({ size, decision: again.eng, engine: "sw", error: Object.assign(new Error("engine copy failed"), { code: "FERRY_E_SYS" }), ns: 1, syncNs: 1 });
    expect(c.stats().engines.sw!.health).toBe("failing");
    expect(c.remembered.take(size, pub)).toBeNull();
  });

  test("an engine that fails under a remembered decision: retried inline, observed, the fallback recorded with its reason", async () => {
    loadSlowplug();
    using bad = new Engine("slowplug", { options: "fail_after=3" });
    const c = new Coordinator(profileOf(5, [{ label: "flaky", fixedUs: 2, gbps: 50 }]), {
      objective: "cpu", split: false, engineMap: new Map([["flaky", bad]]),
    });
    using ch = Channel.create(uniqueName("co-remember-fail"), { capacity: 16 * MiB, slots: 64 });
    const pub = ch.publisher({ coordinator: c });
    const sub = ch.subscribe({ wait: "spin" });
    const calls = spy(c);
    const size = 512 * 1024; // (below 1 MiB no send teaches the engine's rate: the remembered decision stays)
    for (let i = 0; i < 6; i++) await pub.send(new Uint8Array(size).fill(i + 1));
    for (let i = 0; i < 6; i++) {
      const m = sub.tryReceive()!;
      expect(m.bytes[0]).toBe(i + 1);
      expect(m.bytes[size - 1]).toBe(i + 1);
      m.release();
    }
    // later sends took the remembered decision (no decide()); the 4th engine send failed: reported in full
    const retried = calls.observe.filter((r) => r.retriedInline);
    expect(retried.length).toBe(1);
    expect(retried[0]!.retriedInline).toMatch(/engine copy of message/);
    expect(calls.decide).toBeLessThan(6);
    const s = c.stats();
    expect(s.engines.flaky!.health).toBe("failing");
    expect(s.fallbacks.byKind["engine error, sent inline: flaky"]).toBe(1);
    expect(s.fallbacks.byKind["engine failing: flaky"]).toBe(2); // sends 5 and 6 decided afresh, inline, and said why
    expect(s.total.messages).toBe(6);
    expect(s.engines.flaky!.inflight).toBe(0);
    pub.close();
  });

  test("from 8 MiB up a remembered decision stands while the learnt inline correction stays inside its band", () => {
    // 32 MiB: inline 3.36 ms, the engine 4.22 ms: inline, until inline copies run ~1.32x their profile here
    const c = new Coordinator(profileOf(10, [{ label: "sw", fixedUs: 30, gbps: 8 }]), { split: false });
    using ch = Channel.create(uniqueName("co-band"), { capacity: MiB });
    const pub = ch.publisher({ policy: defaultPolicy });
    const ctx: SendContext = { channel: ch, publisher: pub, engine: pub.engine, options: {} };
    const size = 32 * MiB;
    const pred = 1000 + size / 10;
    const d = c.decide(size, ctx);
    expect(d.mode).toBe("inline");
    // inline copies 10% and then 2x slower than profiled: the correction moves well past the 5% that dropped every remembered decision before
    c.remembered.settled(d, size, 1.1 * pred, 1.1 * pred);
    c.remembered.settled(d, size, 2 * pred, 2 * pred);
    const corr = c.stats().inlineCorrection;
    expect(corr).toBeGreaterThan(1.2);
    expect(corr).toBeLessThan(1.3);
    expect(c.remembered.take(size, pub)).toBe(d); // still inside the band: inline is still the choice
    expect(c.explain(size).mode).toBe("inline");
    c.remembered.settled(d, size, 2 * pred, 2 * pred);
    expect(c.stats().inlineCorrection).toBeGreaterThan(1.35);
    expect(c.remembered.take(size, pub)).toBeNull(); // out of the band: decide again
    const e = c.decide(size, ctx);
    expect(e.mode).not.toBe("inline");
    expect(e.engine).toBe("sw");
  });

  test("a remembered engine decision stands while the engine's learnt rate moves inside its band: 1.5x where the choice is clear, 5% near the edge", () => {
    const size = 4 * MiB;
    /**
     * A coordinator whose engine offloads at `gbps` (30 µs fixed; its pipelined sends `pipe` x that) against inline
     * at 10 GB/s (4 MiB: 420 µs), and its decision: an offload (a pipelined send when `pipe` < 1).
     */
    const setup = (ch: Channel, gbps: number, pipe = 1.5) => {
      const offload = linear(30_000, gbps);
      const profile = syntheticProfile({ inlineHot: linear(1000, 10), engines: [{ label: "sw", offload, pipelined: offload.map(([n, t]) => [n, pipe * t]) }] });
      const c = new Coordinator(profile, { objective: "latency", split: false });
      const pub = ch.publisher({ policy: defaultPolicy });
      const ctx: SendContext = { channel: ch, publisher: pub, engine: pub.engine, options: {} };
      const d = c.decide(size, ctx);
      expect(d.mode).toBe(pipe < 1 ? "pipelined" : "offload");
      expect(d.engine).toBe("sw");
      const pred = (30_000 + size / gbps) * (pipe < 1 ? pipe : 1); // the profile's ns
      // what its sends teach: the engine's rate, or for pipelined sends their own correction over it
      const learnt = () => (pipe < 1 ? c.stats().engines.sw!.pipelinedCorrection : c.stats().engines.sw!.rateCorrection);
      return { c, pub, ctx, d, pred, learnt };
    };
    {
      // 20 GB/s: 240 µs against inline's 420; still chosen at 1.5x its rate (360 µs against 399, inline less the 5% margin)
      using ch = Channel.create(uniqueName("co-engband"), { capacity: MiB });
      const { c, pub, d, pred, learnt } = setup(ch, 20);
      c.remembered.settled(d, size, 1.3 * pred, 1.3 * pred);
      for (let i = 0; i < 2; i++) {
        const t = c.remembered.take(size, pub);
        expect(t).toBe(d);
        c.remembered.settled(t!, size, 1.3 * pred, 1.3 * pred);
      }
      // three sends 1.3x the profile: the rate moved half way, well past the 5% that dropped every remembered decision before
      expect(learnt()).toBeGreaterThan(1.1);
      expect(learnt()).toBeLessThan(1.2);
      const t = c.remembered.take(size, pub); // (it charges the engine's backlog: settled() gives it back)
      expect(t).toBe(d);
      expect(c.stats().decidedAfresh).toBe(1); // only the first decide()
      for (let i = 0; i < 3; i++) c.remembered.settled(d, size, 2 * pred, 2 * pred);
      expect(learnt()).toBeGreaterThan(1.5);
      expect(c.remembered.take(size, pub)).toBeNull(); // out of the band: decide again
      pub.close();
    }
    {
      // 12 GB/s: 380 µs against 399, chosen by 5%; at 1.25x its rate inline would win: the band is MEMO_DRIFT's 5%
      using ch = Channel.create(uniqueName("co-engband-edge"), { capacity: MiB });
      const { c, pub, ctx, d, pred, learnt } = setup(ch, 12);
      c.remembered.settled(d, size, 1.03 * pred, 1.03 * pred); // (the median of five: one send moves nothing)
      const t = c.remembered.take(size, pub);
      expect(t).toBe(d);
      for (let i = 0; i < 3; i++) c.remembered.settled(d, size, 1.3 * pred, 1.3 * pred);
      expect(learnt()).toBeGreaterThan(1.1);
      expect(c.remembered.take(size, pub)).toBeNull();
      expect(c.decide(size, ctx).mode).toBe("inline"); // 1.15x its rate: 437 µs, not 5% below inline's 420
      pub.close();
    }
    {
      // pipelined sends at 0.6x the offload's 240 µs: 144 µs; still chosen with their correction 1.5x against them
      // and the engine's rate 5% (227 µs against the offload's 252)
      using ch = Channel.create(uniqueName("co-engband-pipe"), { capacity: MiB });
      const { c, pub, d, pred, learnt } = setup(ch, 20, 0.6);
      for (let i = 0; i < 3; i++) c.remembered.settled(d, size, 1.3 * pred, 1.3 * pred);
      expect(learnt()).toBeGreaterThan(1.1);
      expect(learnt()).toBeLessThan(1.2);
      expect(c.stats().engines.sw!.rateCorrection).toBe(1); // pipelined sends teach their own correction only
      const t = c.remembered.take(size, pub);
      expect(t).toBe(d);
      for (let i = 0; i < 3; i++) c.remembered.settled(d, size, 2 * pred, 2 * pred);
      expect(learnt()).toBeGreaterThan(1.5);
      expect(c.remembered.take(size, pub)).toBeNull();
      pub.close();
    }
  });
});
