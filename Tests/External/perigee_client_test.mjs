// web/perigee/client.js (PerigeeClient) over a scripted in-memory transport and a fake clock:
//   node --test Tests/External/perigee_client_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import * as entry from "../../web/perigee.js";
import { PerigeeClient } from "../../web/perigee/client.js";
import * as codec from "../../web/perigee/stomp-codec.js";
import { FakeClock, disconnectNow, installFakeTransport } from "./perigee_js_support.mjs";

const NO_HEARTBEAT = { outgoing: 0, incoming: 0 };

test("perigee.js re-exports the public API from its modules", () => {
  assert.equal(entry.PerigeeClient, PerigeeClient);
  assert.equal(entry.default, PerigeeClient);
  for (const name of ["STOMP_SUBPROTOCOLS", "StompFrameParser", "encodeFrame", "escapeHeader", "unescapeHeader"]) {
    assert.equal(entry[name], codec[name], name);
  }
});

test("client: connect, subscribe, message, receipt, ack headers", async () => {
  const servers = installFakeTransport();
  const states = [];
  const client = new PerigeeClient({
    url: "ws://example.test:1/stomp", transports: ["fake"], heartbeat: NO_HEARTBEAT,
    clock: new FakeClock(), onStateChange: (s) => states.push(s),
  });
  const got = [];
  const sub = client.subscribe("/topic/a", (m) => got.push(m), { ack: "client-individual" });
  client.connect();
  const s = servers[0];
  assert.deepEqual(s.protocols, ["v12.stomp", "v11.stomp", "v10.stomp"]);
  s.open();
  const connect = s.frames()[0];
  assert.equal(connect.command, "CONNECT");
  assert.equal(connect.headers["accept-version"], "1.2,1.1,1.0");
  assert.equal(connect.headers.host, "example.test");
  s.reply("CONNECTED\nversion:1.2\nheart-beat:0,0\nsession:s1\n\n\0");
  assert.equal(client.state, "connected");
  assert.equal(client.transport, "fake");
  const subscribe = s.frames()[1];
  assert.equal(subscribe.command, "SUBSCRIBE");
  const { receipt: subscribeReceipt, ...subscribeHeaders } = subscribe.headers;
  assert.deepEqual(subscribeHeaders, { ack: "client-individual", id: sub.id, destination: "/topic/a" });
  assert.ok(subscribeReceipt, "every SUBSCRIBE asks for a receipt");
  s.reply(`RECEIPT\nreceipt-id:${subscribeReceipt}\n\n\0`);
  assert.equal(sub.refused, null);

  // Two MESSAGE frames and a heart-beat in one transport message.
  s.reply(`MESSAGE\ndestination:/topic/a\nmessage-id:m1\nsubscription:${sub.id}\nack:A1\ncontent-length:2\n\nhi\0\n` +
    `MESSAGE\ndestination:/topic/a\nmessage-id:m2\nsubscription:${sub.id}\nack:A2\n\nyo\0`);
  assert.deepEqual(got.map((m) => m.body), ["hi", "yo"]);
  got[0].ack();
  got[1].nack();
  const [ack, nack] = s.frames().slice(2);
  assert.deepEqual([ack.command, ack.headers.id, nack.command, nack.headers.id], ["ACK", "A1", "NACK", "A2"]);

  const receipt = client.send("/topic/a", "x:y", { receipt: true, "x-k": "a:b" });
  const send = s.frames()[4];
  assert.equal(send.command, "SEND");
  assert.equal(send.headers["x-k"], "a:b");
  assert.equal(send.headers["content-length"], "3");
  s.reply(`RECEIPT\nreceipt-id:${send.headers.receipt}\n\n\0`);
  assert.equal((await receipt).command, "RECEIPT");

  sub.unsubscribe();
  assert.equal(s.frames()[5].command, "UNSUBSCRIBE");
  const done = client.disconnect({ timeout: 50 });
  const disc = s.frames()[6];
  assert.equal(disc.command, "DISCONNECT");
  s.reply(`RECEIPT\nreceipt-id:${disc.headers.receipt}\n\n\0`);
  await done;
  assert.equal(client.state, "disconnected");
  assert.ok(s.closed);
  assert.deepEqual(states, ["connecting", "connected", "disconnected"]);
});

test("client: disconnect gives up waiting for the DISCONNECT receipt after its timeout", async () => {
  const servers = installFakeTransport();
  const clock = new FakeClock();
  const client = new PerigeeClient({ url: "ws://h/stomp", transports: ["fake"], heartbeat: NO_HEARTBEAT, clock });
  client.connect();
  servers[0].open();
  servers[0].reply("CONNECTED\nversion:1.2\n\n\0");
  const done = client.disconnect({ timeout: 300 });
  clock.advance(299);
  assert.equal(client.state, "connected");
  clock.advance(1);
  await done;
  assert.equal(client.state, "disconnected");
  assert.ok(servers[0].closed);
});

test("client: reconnects with backoff, resubscribes, flushes queued sends", async () => {
  const servers = installFakeTransport();
  const clock = new FakeClock();
  const states = [];
  const client = new PerigeeClient({
    transports: ["fake"], url: "ws://h/stomp", heartbeat: NO_HEARTBEAT, clock,
    reconnect: { initialDelay: 20, maxDelay: 40 }, onStateChange: (s) => states.push(s),
  });
  const sub = client.subscribe("/topic/a", () => {});
  client.connect();
  servers[0].open();
  servers[0].reply("CONNECTED\nversion:1.2\n\n\0");
  const lostReceipt = client.send("/topic/a", "1", { receipt: true });
  servers[0].drop();
  await assert.rejects(lostReceipt);
  assert.equal(client.state, "reconnecting");
  const queued = client.send("/topic/a", "queued");
  const first = clock.fireNext();
  assert.ok(first >= 10 && first <= 20, "first delay in [initialDelay/2, initialDelay]: " + first);
  assert.equal(servers.length, 2);
  servers[1].drop(); // a failed attempt: backoff grows
  const second = clock.fireNext();
  assert.ok(second >= 20 && second <= 40, "second delay doubled: " + second);
  assert.equal(servers.length, 3);
  servers[2].open();
  servers[2].reply("CONNECTED\nversion:1.1\n\n\0");
  await queued;
  const frames = servers[2].frames();
  assert.deepEqual(frames.map((f) => f.command), ["CONNECT", "SUBSCRIBE", "SEND"]);
  assert.equal(frames[1].headers.id, sub.id);
  assert.equal(frames[2].body, "queued");
  assert.deepEqual(states, ["connecting", "connected", "reconnecting", "connected"]);
  await disconnectNow(client, clock);
});

test("client: heart-beats out, and a silent server is dropped", async () => {
  const servers = installFakeTransport();
  const clock = new FakeClock();
  const errors = [];
  const client = new PerigeeClient({
    transports: ["fake"], url: "ws://h/stomp", heartbeat: { outgoing: 40, incoming: 40 }, clock,
    reconnect: { initialDelay: 1000, maxDelay: 1000 }, onError: (e) => errors.push(e.message),
  });
  client.connect();
  servers[0].open();
  assert.equal(servers[0].frames()[0].headers["heart-beat"], "40,40");
  servers[0].reply("CONNECTED\nversion:1.2\nheart-beat:40,40\n\n\0");
  for (let i = 0; i < 8; i++) { clock.advance(25); servers[0].reply("\n"); }
  assert.equal(servers[0].sent.filter((d) => d === "\n").length, 2, "client sent heart-beats (checked every 100 ms)");
  assert.equal(client.state, "connected", "server heart-beats keep it alive");
  // Silent for twice the period plus a second: dropped, not before.
  clock.advance(40 * 2 + 1000 - 20);
  assert.equal(client.state, "connected");
  clock.advance(40);
  assert.equal(client.state, "reconnecting");
  assert.ok(servers[0].closed);
  assert.match(errors.join(" "), /silent/);
  await client.disconnect();
});

test("client: ERROR frame reaches onError and rejects its receipt", async () => {
  const servers = installFakeTransport();
  const errors = [];
  const client = new PerigeeClient({
    transports: ["fake"], url: "ws://h/stomp", heartbeat: NO_HEARTBEAT, clock: new FakeClock(),
    reconnect: false, onError: (e) => errors.push(e),
  });
  client.connect();
  servers[0].open();
  servers[0].reply("CONNECTED\nversion:1.2\n\n\0");
  const p = client.send("/queue/nope", "x", { receipt: "r-1" });
  servers[0].reply("ERROR\nmessage:no such destination\nreceipt-id:r-1\n\ndetails\0");
  await assert.rejects(p, /no such destination/);
  assert.equal(errors[0].frame.body, "details");
  servers[0].drop();
  assert.equal(client.state, "disconnected");
});

test("client: the default transport order is websocket, xhr-streaming, eventsource, xhr-polling", () => {
  const client = new PerigeeClient({ url: "ws://h/stomp" });
  assert.deepEqual(client.options.transports, ["websocket", "xhr-streaming", "eventsource", "xhr-polling"]);
  for (const name of client.options.transports) assert.equal(typeof PerigeeClient.transports[name], "function");
});

test("client: falls back on failure and on timeout; a reconnect starts with the last working one", async () => {
  const f1 = installFakeTransport("f1");
  const f2 = installFakeTransport("f2");
  const f3 = installFakeTransport("f3");
  const clock = new FakeClock();
  const states = [];
  const client = new PerigeeClient({
    url: "ws://h/stomp", transports: ["f1", "f2", "f3"], connectTimeout: 60, clock,
    heartbeat: NO_HEARTBEAT, reconnect: { initialDelay: 20, maxDelay: 40 },
    onStateChange: (s) => states.push(s),
  });
  client.connect();
  f1[0].fail(); // refused before opening: the next transport at once
  assert.equal(clock.fireNext(), 0);
  assert.equal(f2.length, 1);
  f2[0].open(); // opens but never answers CONNECT: given up after connectTimeout
  clock.advance(59);
  assert.equal(f3.length, 0);
  clock.advance(1); // the timeout, and the next transport straight after it
  assert.ok(f2[0].closed);
  assert.equal(f3.length, 1);
  f3[0].open();
  f3[0].reply("CONNECTED\nversion:1.2\n\n\0");
  assert.equal(client.transport, "f3");
  assert.deepEqual(states, ["connecting", "connected"]);

  f3[0].drop(); // lost: the reconnect tries f3 first
  assert.equal(client.transport, null);
  assert.ok(clock.fireNext() > 0, "after a lost connection, the backoff");
  assert.equal(f3.length, 2);
  assert.equal(f1.length, 1);
  f3[1].fail(); // then the others, in order, at once
  assert.equal(clock.fireNext(), 0);
  assert.equal(f1.length, 2);
  f1[1].fail();
  assert.equal(clock.fireNext(), 0);
  assert.equal(f2.length, 2);
  f2[1].fail(); // a whole round failed: the next round waits for the backoff, f3 first again
  assert.ok(clock.fireNext() > 0);
  assert.equal(f3.length, 3);
  f3[2].open();
  f3[2].reply("CONNECTED\nversion:1.2\n\n\0");
  assert.equal(client.state, "connected");
  await disconnectNow(client, clock);

  // connect() after disconnect() starts from the preferred order again.
  client.connect();
  assert.equal(f1.length, 3);
  await disconnectNow(client, clock);
});

/** Open the next fake connection and have the server accept CONNECT. */
function accept(server) {
  server.open();
  server.reply("CONNECTED\nversion:1.2\n\n\0");
}

/** A client on a fresh "fake" transport and a FakeClock: no heart-beats, backoff from 500 ms. */
function fakeClient(options = {}) {
  const servers = installFakeTransport();
  const clock = new FakeClock();
  const client = new PerigeeClient({
    url: "ws://h/stomp", transports: ["fake"], heartbeat: NO_HEARTBEAT, clock,
    reconnect: { initialDelay: 500, maxDelay: 30000 }, ...options,
  });
  return { client, servers, clock };
}

test("client: an ERROR after CONNECTED backs off, growing each time; it does not wait for the close", async () => {
  const errors = [];
  const { client, servers, clock } = fakeClient({ onError: (e) => errors.push(e) });
  client.connect();
  const delays = [];
  for (let i = 0; i < 5; i++) {
    const s = servers[i];
    accept(s);
    assert.equal(client.state, "connected");
    clock.advance(1000); // up for a while, but not long enough to count as healthy
    s.reply("ERROR\nmessage:slow consumer\n\nbehind\0");
    assert.ok(s.closed, "the client closed the transport itself");
    assert.equal(client.state, "reconnecting");
    delays.push(clock.fireNext());
    assert.equal(servers.length, i + 2);
  }
  delays.forEach((delay, i) => {
    const base = 500 * 2 ** i;
    assert.ok(delay >= base / 2 && delay <= base, `delay ${i} is ${delay}, not in [${base / 2}, ${base}]`);
  });
  assert.equal(errors.length, 5);
  assert.equal(errors[0].frame.headers.message, "slow consumer");
  await disconnectNow(client, clock);
});

test("client: a connection that stays up for reconnect.resetAfter ms resets the backoff", async () => {
  const { client, servers, clock } = fakeClient({
    reconnect: { initialDelay: 500, maxDelay: 30000, resetAfter: 5000 },
  });
  client.connect();
  for (let i = 0; i < 3; i++) {
    accept(servers[i]);
    servers[i].drop();
    clock.fireNext();
  }
  accept(servers[3]);
  clock.advance(4999);
  servers[3].drop();
  const notYet = clock.fireNext();
  assert.ok(notYet >= 2000, "4.999 s is not long enough: the fourth delay, in [2000, 4000]: " + notYet);
  accept(servers[4]);
  clock.advance(5000);
  servers[4].drop();
  const reset = clock.fireNext();
  assert.ok(reset >= 250 && reset <= 500, "back to initialDelay: " + reset);
  await disconnectNow(client, clock);
});

test("client: an ERROR answering CONNECT ends the round instead of trying the next transport", async () => {
  const f1 = installFakeTransport("f1");
  const f2 = installFakeTransport("f2");
  const clock = new FakeClock();
  const client = new PerigeeClient({
    url: "ws://h/stomp", transports: ["f1", "f2"], heartbeat: NO_HEARTBEAT, clock,
    reconnect: { initialDelay: 500, maxDelay: 30000 },
  });
  client.connect();
  f1[0].open();
  f1[0].reply("ERROR\nmessage:unauthorized\n\nThe credentials were not accepted.\0");
  assert.ok(f1[0].closed);
  assert.equal(client.state, "connecting");
  const delay = clock.fireNext();
  assert.ok(delay >= 250, "a backoff, not an immediate fallback: " + delay);
  assert.deepEqual([f1.length, f2.length], [2, 0], "the next round starts again with f1");
  await disconnectNow(client, clock);
});

/** The ERROR Perigee sends when it refuses a SUBSCRIBE (Sources/Hub/StompError.swift). */
const refusal = (subscribe) => `ERROR\nmessage:permission denied\nreceipt-id:${subscribe.headers.receipt}\n` +
  `content-type:text/plain\n\nYou may not subscribe to ${subscribe.headers.destination}.\0`;

const subscribesOf = (server) => server.frames().filter((f) => f.command === "SUBSCRIBE");

test("client: a refused subscription is reported, never sent again, and the backoff grows", async () => {
  const errors = [];
  const refusedB = [];
  const { client, servers, clock } = fakeClient({ onError: (e) => errors.push(e) });
  const a = client.subscribe("/topic/open", () => {});
  const b = client.subscribe("/queue/secret", () => {}, {}, { onError: (e) => refusedB.push(e) });
  client.connect();

  // First connection: A is accepted, B refused; the server closes.
  accept(servers[0]);
  const [subA, subB] = subscribesOf(servers[0]);
  assert.deepEqual([subA.headers.id, subB.headers.id], [a.id, b.id]);
  servers[0].reply(`RECEIPT\nreceipt-id:${subA.headers.receipt}\n\n\0`);
  servers[0].reply(refusal(subB));
  assert.equal(refusedB.length, 1);
  assert.equal(refusedB[0].destination, "/queue/secret");
  assert.equal(refusedB[0].subscription, b.id);
  assert.equal(refusedB[0].frame.body, "You may not subscribe to /queue/secret.");
  assert.deepEqual(errors, refusedB, "the client's onError hears of it too");
  assert.equal(b.refused, refusedB[0]);
  assert.equal(a.refused, null);
  assert.ok(servers[0].closed);
  const first = clock.fireNext();
  assert.ok(first >= 250 && first <= 500, "first delay " + first);

  // Second connection: only A is sent again; now the server refuses A as well.
  accept(servers[1]);
  assert.deepEqual(subscribesOf(servers[1]).map((f) => f.headers.destination), ["/topic/open"]);
  servers[1].reply(refusal(subscribesOf(servers[1])[0]));
  assert.equal(a.refused.destination, "/topic/open");
  const second = clock.fireNext();
  assert.ok(second >= 500 && second <= 1000, "the backoff grew: " + second);

  // Third connection: nothing left to refuse, and it stays up.
  accept(servers[2]);
  assert.deepEqual(subscribesOf(servers[2]), []);
  clock.advance(60000);
  assert.equal(client.state, "connected");
  assert.equal(servers.length, 3);
  b.unsubscribe();
  assert.deepEqual(servers[2].frames().map((f) => f.command), ["CONNECT"], "no UNSUBSCRIBE for a refused subscription");
  await disconnectNow(client, clock);
});

test("client: the ERROR's receipt-id names exactly which of two subscriptions to one destination was refused", async () => {
  const { client, servers, clock } = fakeClient();
  client.connect();
  accept(servers[0]);
  const good = client.subscribe("/topic/x", () => {});
  const bad = client.subscribe("/topic/x", () => {}, { ack: "bogus" });
  const badFrame = subscribesOf(servers[0])[1];
  assert.equal(badFrame.headers.ack, "bogus");
  servers[0].reply(`ERROR\nmessage:invalid header ack\nreceipt-id:${badFrame.headers.receipt}\n\n` +
    `The value "bogus" is not valid for ack.\0`);
  assert.equal(good.refused, null);
  assert.ok(bad.refused);
  clock.fireNext();
  accept(servers[1]);
  assert.deepEqual(subscribesOf(servers[1]).map((f) => [f.headers.id, f.headers.ack]), [[good.id, undefined]]);
  await disconnectNow(client, clock);
});

test("client: an ERROR that answers no SUBSCRIBE refuses nothing: every subscription is sent again", async () => {
  const { client, servers, clock } = fakeClient();
  const a = client.subscribe("/topic/a", () => {});
  client.connect();
  accept(servers[0]);
  const send = client.send("/topic/forbidden", "x", { receipt: "r-9" });
  servers[0].reply("ERROR\nmessage:permission denied\nreceipt-id:r-9\n\nYou may not send to /topic/forbidden.\0");
  await assert.rejects(send, /permission denied/);
  assert.equal(a.refused, null);
  clock.fireNext();
  accept(servers[1]);
  assert.deepEqual(subscribesOf(servers[1]).map((f) => f.headers.id), [a.id]);
  await disconnectNow(client, clock);
});

// Issue 10: a drain. Each way a server says it is going away gets a prompt reconnect, without
// onError, and every subscription is sent again under its id.
for (const [how, goAway] of [
  ["ERROR server shutting down", (s) => s.reply("ERROR\nmessage:server shutting down\n\nThe server is shutting down.\0")],
  ["WebSocket close 1001", (s) => s.drop(1001)],
  ["SockJS close 3000 Go away!", (s) => { s.closed = true; s.transport.onclose({ code: 3000, reason: "Go away!", opened: true }); }],
]) {
  test(`client: a drain (${how}) reconnects within initialDelay and resubscribes everything`, async () => {
    const errors = [];
    const { client, servers, clock } = fakeClient({ onError: (e) => errors.push(e) });
    const a = client.subscribe("/topic/a", () => {});
    const b = client.subscribe("/queue/b", () => {}, { ack: "client" });
    client.connect();
    // Back off first: two short-lived sessions that ended with an ERROR.
    for (let i = 0; i < 2; i++) {
      accept(servers[i]);
      clock.advance(100);
      servers[i].reply("ERROR\nmessage:slow consumer\n\n\0");
      clock.fireNext();
    }
    accept(servers[2]);
    clock.advance(100);
    goAway(servers[2]);
    assert.equal(client.state, "reconnecting");
    const delay = clock.fireNext();
    assert.ok(delay >= 0 && delay < 500, `a drain is not a refusal: ${delay} ms, not the grown backoff`);
    assert.equal(servers.length, 4);
    accept(servers[3]);
    assert.equal(client.state, "connected");
    const subscribes = subscribesOf(servers[3]);
    assert.deepEqual(subscribes.map((f) => [f.headers.id, f.headers.destination]), [[a.id, "/topic/a"], [b.id, "/queue/b"]]);
    assert.equal(subscribes[1].headers.ack, "client");
    assert.equal(errors.filter((e) => /shutting down/.test(e.message)).length, 0, "no onError for a drain");
    await disconnectNow(client, clock);
  });
}
