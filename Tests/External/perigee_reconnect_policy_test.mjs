// web/perigee/reconnect-policy.js: which transport next, and the backoff, without a client.
//   node --test Tests/External/perigee_reconnect_policy_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReconnectPolicy } from "../../web/perigee/reconnect-policy.js";

const RECONNECT = { initialDelay: 100, maxDelay: 1000, resetAfter: 5000 };
const top = () => 1 - Number.EPSILON; // the largest jitter: delay = base

test("a round falls back in order at once, then waits; the next round starts with the last that worked", () => {
  const p = new ReconnectPolicy(["a", "b", "c"], RECONNECT, () => 0.5);
  assert.equal(p.current, "a");
  assert.deepEqual(p.lost({ now: 0 }), { transport: "b", delay: 0, newRound: false });
  p.connected(10);
  assert.deepEqual(p.lost({ now: 20 }), { transport: "b", delay: 75, newRound: true });
  assert.deepEqual(p.round, ["b", "a", "c"]);
  assert.equal(p.lost({ now: 30 }).transport, "a");
  assert.equal(p.lost({ now: 40 }).transport, "c");
  const next = p.lost({ now: 50 });
  assert.deepEqual([next.transport, next.newRound], ["b", true]);
  p.begin();
  assert.equal(p.current, "a", "begin() forgets the last working transport");
});

test("the backoff doubles per round up to maxDelay, with jitter in [delay/2, delay]", () => {
  const low = new ReconnectPolicy(["a"], RECONNECT, () => 0);
  const high = new ReconnectPolicy(["a"], RECONNECT, top);
  const lows = [], highs = [];
  for (let i = 0; i < 6; i++) {
    lows.push(low.lost({ now: i }).delay);
    highs.push(Math.round(high.lost({ now: i }).delay));
  }
  assert.deepEqual(lows, [50, 100, 200, 400, 500, 500]);
  assert.deepEqual(highs, [100, 200, 400, 800, 1000, 1000]);
});

test("reaching CONNECTED does not reset the backoff; staying connected resetAfter ms does", () => {
  const p = new ReconnectPolicy(["a"], RECONNECT, top);
  const delays = [];
  let now = 0;
  for (let i = 0; i < 4; i++) {
    p.connected(now);
    now += 4999; // connected, then lost just short of resetAfter
    delays.push(Math.round(p.lost({ now }).delay));
  }
  assert.deepEqual(delays, [100, 200, 400, 800]);
  p.connected(now);
  now += 5000;
  assert.equal(Math.round(p.lost({ now }).delay), 100, "a healthy connection resets it");
});

test("an ERROR answering CONNECT ends the round: the other transports would get the same", () => {
  const p = new ReconnectPolicy(["a", "b"], RECONNECT, top);
  const next = p.lost({ now: 0, answeredWithError: true });
  assert.deepEqual([next.transport, next.newRound], ["a", true]);
  assert.ok(next.delay > 0);
});

test("without reconnecting, a round still falls back, and then it is over", () => {
  const p = new ReconnectPolicy(["a", "b"], null);
  assert.equal(p.lost({ now: 0 }).transport, "b");
  assert.equal(p.lost({ now: 0 }), null);
  const q = new ReconnectPolicy(["a", "b"], null);
  q.connected(0);
  assert.equal(q.lost({ now: 1 }), null, "a lost connection is not followed by another");
});

test("a server going away (a drain) resets the backoff: the next round starts within initialDelay", () => {
  const p = new ReconnectPolicy(["a", "b"], RECONNECT, top);
  p.lost({ now: 0 }); // a failed: b next
  p.connected(10);
  const next = p.lost({ now: 20, goingAway: true });
  assert.deepEqual([next.transport, next.newRound], ["b", true], "with the transport that worked");
  assert.ok(next.delay >= 0 && next.delay < RECONNECT.initialDelay, "within initialDelay: " + next.delay);

  const grown = new ReconnectPolicy(["a"], RECONNECT, top);
  for (let i = 0; i < 4; i++) {
    grown.connected(i);
    grown.lost({ now: i + 1 }); // short sessions: 100, 200, 400, 800
  }
  grown.connected(10);
  assert.ok(grown.lost({ now: 20, goingAway: true }).delay < RECONNECT.initialDelay, "not the grown backoff");
  assert.equal(Math.round(grown.lost({ now: 30 }).delay), 100, "and the backoff starts over");

  const zero = new ReconnectPolicy(["a"], RECONNECT, () => 0);
  assert.equal(zero.lost({ now: 0, goingAway: true }).delay, 0, "jitter in [0, initialDelay)");
  assert.equal(new ReconnectPolicy(["a"], null).lost({ now: 0, goingAway: true }), null, "reconnect off: over");
});
