// The `token` option of web/perigee/client.js and the auth ERROR frames of spec-auth (issue 9),
// over a scripted in-memory transport and a fake clock:
//   node --test Tests/External/perigee_token_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { PerigeeClient } from "../../web/perigee/client.js";
import { FakeClock, disconnectNow, installFakeTransport, until } from "./perigee_js_support.mjs";

const NO_HEARTBEAT = { outgoing: 0, incoming: 0 };

/** A client on the transports `names` (fresh fakes) and a FakeClock; backoff from 500 ms. */
function tokenClient(options = {}, names = ["fake"]) {
  const fakes = Object.fromEntries(names.map((name) => [name, installFakeTransport(name)]));
  const clock = new FakeClock();
  const errors = [];
  const client = new PerigeeClient({
    url: "ws://h/stomp", transports: names, heartbeat: NO_HEARTBEAT, clock,
    reconnect: { initialDelay: 500, maxDelay: 4000 }, onError: (e) => errors.push(e), ...options,
  });
  return { client, clock, errors, servers: fakes[names[0]], fakes };
}

/** The CONNECT a fake server received, after it opened. */
function connectOf(server) {
  server.open();
  const connect = server.frames()[0];
  assert.equal(connect.command, "CONNECT");
  return connect;
}

const CONNECTED = "CONNECTED\nversion:1.2\n\n\0";

test("token: a string goes in CONNECT as Authorization: Bearer, never in the URL", async () => {
  const { client, clock, servers } = tokenClient({
    url: "ws://h/stomp?room=1", token: "eyJ.abc.def",
    connectHeaders: { login: "u", passcode: "p", authorization: "Basic old" },
  });
  client.connect();
  const connect = connectOf(servers[0]);
  assert.equal(connect.headers.Authorization, "Bearer eyJ.abc.def");
  assert.equal(connect.headers.authorization, undefined, "the token replaces an Authorization of connectHeaders");
  assert.equal(connect.headers.login, "u", "login and passcode still go out");
  assert.equal(connect.headers.passcode, "p");
  assert.equal(servers[0].url, "ws://h/stomp?room=1");
  await disconnectNow(client, clock);
});

test("token: null, empty or blank means CONNECT without Authorization", async () => {
  for (const token of [null, undefined, "", "  \n", () => null, () => "", async () => null]) {
    const { client, clock, servers } = tokenClient({ token });
    client.connect();
    await until(() => servers.length === 1);
    const connect = connectOf(servers[0]);
    assert.equal(connect.headers.Authorization, undefined, String(token));
    assert.equal(connect.headers.authorization, undefined, String(token));
    await disconnectNow(client, clock);
  }
  // Without a token, an Authorization of connectHeaders is left alone.
  const { client, clock, servers } = tokenClient({ connectHeaders: { Authorization: "Bearer fixed" } });
  client.connect();
  assert.equal(connectOf(servers[0]).headers.Authorization, "Bearer fixed");
  await disconnectNow(client, clock);
});

test("token: an async function is called on every attempt, and each CONNECT carries its new value", async () => {
  let calls = 0;
  const { client, clock, fakes } = tokenClient({
    token: async () => { calls++; return "tok-" + calls + "\n"; }, // the newline is trimmed
  }, ["f1", "f2"]);
  client.connect();
  await until(() => fakes.f1.length === 1);
  assert.equal(calls, 1);
  fakes.f1[0].fail(); // a transport fallback asks for a token again
  assert.equal(clock.fireNext(), 0, "the fallback is immediate");
  await until(() => fakes.f2.length === 1);
  assert.equal(calls, 2);
  const second = connectOf(fakes.f2[0]);
  assert.equal(second.headers.Authorization, "Bearer tok-2");
  fakes.f2[0].reply(CONNECTED);
  assert.equal(client.state, "connected");
  fakes.f2[0].drop(); // a lost connection: the reconnect asks again
  assert.equal(client.state, "reconnecting");
  clock.fireNext();
  await until(() => fakes.f2.length === 2);
  assert.equal(calls, 3);
  assert.equal(connectOf(fakes.f2[1]).headers.Authorization, "Bearer tok-3");
  await disconnectNow(client, clock);
});

test("token: a sync function works too, and a promise-returning one is awaited before the transport opens", async () => {
  let release;
  const { client, clock, servers } = tokenClient({ token: () => new Promise((resolve) => { release = resolve; }) });
  client.connect();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(servers.length, 0, "no transport before the token");
  release("late");
  await until(() => servers.length === 1);
  assert.equal(connectOf(servers[0]).headers.Authorization, "Bearer late");
  await disconnectNow(client, clock);

  const sync = tokenClient({ token: () => "now" });
  sync.client.connect();
  assert.equal(sync.servers.length, 1, "a plain value opens the transport at once");
  assert.equal(connectOf(sync.servers[0]).headers.Authorization, "Bearer now");
  await disconnectNow(sync.client, sync.clock);
});

test("token: a rejected token function reaches onError, opens nothing, and is retried with backoff", async () => {
  let calls = 0;
  const { client, clock, errors, fakes } = tokenClient({
    token: async () => {
      calls++;
      if (calls <= 2) throw new Error("token service down " + calls);
      return "fresh";
    },
  }, ["f1", "f2"]);
  client.connect();
  await until(() => errors.length === 1);
  assert.match(errors[0].message, /token function failed: token service down 1/);
  assert.equal(errors[0].cause.message, "token service down 1");
  assert.deepEqual([fakes.f1.length, fakes.f2.length], [0, 0], "no transport opened, no fallback to f2");
  assert.equal(client.state, "connecting");
  const first = clock.fireNext();
  assert.ok(first >= 250 && first <= 500, "a backoff, in [250, 500]: " + first);
  await until(() => errors.length === 2);
  const second = clock.fireNext();
  assert.ok(second >= 500 && second <= 1000, "the backoff grows, in [500, 1000]: " + second);
  await until(() => fakes.f1.length === 1);
  assert.equal(calls, 3);
  assert.equal(connectOf(fakes.f1[0]).headers.Authorization, "Bearer fresh");
  fakes.f1[0].reply(CONNECTED);
  assert.equal(client.state, "connected");
  await disconnectNow(client, clock);
});

test("token: a token function that throws synchronously is handled the same way", async () => {
  let calls = 0;
  const { client, clock, errors, servers } = tokenClient({
    token: () => { calls++; if (calls === 1) throw new TypeError("no session cookie"); return "t2"; },
  });
  client.connect();
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /no session cookie/);
  assert.equal(servers.length, 0);
  clock.fireNext();
  assert.equal(connectOf(servers[0]).headers.Authorization, "Bearer t2");
  await disconnectNow(client, clock);
});

test("token: a token function that never settles is given up after connectTimeout", async () => {
  const { client, clock, errors, servers } = tokenClient({ token: () => new Promise(() => {}), connectTimeout: 3000 });
  client.connect();
  clock.advance(2999);
  assert.equal(errors.length, 0);
  clock.advance(1);
  assert.match(errors[0].message, /no token within 3000 ms/);
  assert.equal(servers.length, 0);
  assert.ok(clock.nextDelay() >= 250, "retried after a backoff");
  await disconnectNow(client, clock);
});

test("token: disconnect() while the token function is pending opens nothing afterwards", async () => {
  let release;
  const { client, clock, servers } = tokenClient({ token: () => new Promise((resolve) => { release = resolve; }) });
  client.connect();
  await disconnectNow(client, clock);
  release("too late");
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(servers.length, 0);
  assert.equal(client.state, "disconnected");
});

test("token expired: onError gets the message and body; the client reconnects with a new token, every time", async () => {
  let calls = 0;
  const { client, clock, errors, servers } = tokenClient({ token: async () => "t" + ++calls });
  client.connect();
  for (let i = 0; i < 12; i++) {
    await until(() => servers.length === i + 1);
    assert.equal(connectOf(servers[i]).headers.Authorization, "Bearer t" + (i + 1));
    servers[i].reply(CONNECTED);
    assert.equal(client.state, "connected");
    clock.advance(60_000); // the token lived its minute
    servers[i].reply("ERROR\nmessage:token expired\ncontent-type:text/plain\n\nThe token expired at 12:00:00.\0");
    assert.equal(client.state, "reconnecting", "round " + i);
    assert.ok(servers[i].closed);
    const delay = clock.fireNext();
    assert.ok(delay <= 500, "a session that lasted resets the backoff: " + delay);
  }
  assert.equal(errors.length, 12);
  assert.equal(errors[0].frame.headers.message, "token expired");
  assert.equal(errors[0].frame.body, "The token expired at 12:00:00.");
  assert.equal(errors[0].message, "STOMP ERROR: token expired (The token expired at 12:00:00.)");
  await until(() => servers.length === 13);
  assert.equal(calls, 13);
  await disconnectNow(client, clock);
});

test("unauthorized answering CONNECT: retried with growing backoff up to maxDelay, never given up", async () => {
  let calls = 0;
  const { client, clock, errors, servers } = tokenClient({ token: () => "bad-" + ++calls });
  client.connect();
  const delays = [];
  for (let i = 0; i < 8; i++) {
    assert.equal(connectOf(servers[i]).headers.Authorization, "Bearer bad-" + (i + 1));
    servers[i].reply("ERROR\nmessage:unauthorized\n\ninvalid token: signature\0");
    assert.notEqual(client.state, "disconnected");
    delays.push(clock.fireNext());
  }
  assert.equal(servers.length, 9);
  assert.equal(calls, 9, "each attempt asked for a token");
  const bases = [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000];
  delays.forEach((d, i) => assert.ok(d >= bases[i] / 2 && d <= bases[i], `delay ${i} = ${d}`));
  assert.deepEqual(new Set(errors.map((e) => e.frame.headers.message)), new Set(["unauthorized"]));
  assert.equal(errors[0].frame.body, "invalid token: signature");
  await disconnectNow(client, clock);
});

test("send refused, permission denied, authorization unavailable reach onError with message and body", async () => {
  const { client, clock, errors, servers } = tokenClient({ token: "t" });
  const refusedSub = [];
  const sub = client.subscribe("/topic/secret", () => {}, {}, { onError: (e) => refusedSub.push(e) });
  client.connect();
  connectOf(servers[0]);
  servers[0].reply(CONNECTED);
  const subscribe = servers[0].frames()[1];
  servers[0].reply(`ERROR\nmessage:permission denied\nreceipt-id:${subscribe.headers.receipt}\n\nnot for you\0`);
  assert.equal(refusedSub[0].frame.headers.message, "permission denied");
  assert.ok(sub.refused);
  clock.fireNext();
  accept(servers[1]);
  const send = client.send("/topic/shouts", "spam", { receipt: "s-1" });
  servers[1].reply("ERROR\nmessage:send refused\nreceipt-id:s-1\n\nno links, please\0");
  await assert.rejects(send, /send refused \(no links, please\)/);
  clock.fireNext();
  connectOf(servers[2]);
  servers[2].reply("ERROR\nmessage:authorization unavailable\n\nconnect hook: timeout after 3000 ms\0");
  assert.deepEqual(errors.map((e) => [e.frame.headers.message, e.frame.body]), [
    ["permission denied", "not for you"],
    ["send refused", "no links, please"],
    ["authorization unavailable", "connect hook: timeout after 3000 ms"],
  ]);
  assert.notEqual(client.state, "disconnected");
  await disconnectNow(client, clock);
});

/** Open `server` and accept its CONNECT. */
function accept(server) {
  server.open();
  server.reply(CONNECTED);
}

test("token: the debug trace does not write out the token or a passcode", async () => {
  const trace = [];
  const { client, clock, servers } = tokenClient({
    token: "secret-token", connectHeaders: { login: "u", passcode: "secret-pass" }, debug: (t) => trace.push(t),
  });
  client.connect();
  accept(servers[0]);
  const text = trace.join("\n");
  assert.match(text, />>> CONNECT/);
  assert.doesNotMatch(text, /secret-token|secret-pass/);
  await disconnectNow(client, clock);
});
