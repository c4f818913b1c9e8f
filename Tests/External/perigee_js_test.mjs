// Unit tests for web/perigee.js with node's test runner and a scripted in-memory transport
// (no server, no browser):   node --test Tests/External/perigee_js_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PerigeeClient, StompFrameParser, encodeFrame, escapeHeader, unescapeHeader,
} from "../../web/perigee.js";

const text = (bytes) => new TextDecoder().decode(bytes);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A transport the test drives: `server.frames` records what the client sent. */
function installFakeTransport() {
  const servers = [];
  PerigeeClient.transports.fake = (url, protocols) => {
    const server = {
      url, protocols, sent: [], closed: false, transport: null,
      open() { this.transport.onopen(); },
      reply(data) { this.transport.onmessage(data); },
      drop(code = 1006) { this.closed = true; this.transport.onclose({ code, reason: "", opened: true }); },
      frames() {
        const parser = new StompFrameParser();
        return this.sent.flatMap((d) => parser.push(d)).filter((e) => e.type === "frame").map((e) => e.frame);
      },
    };
    server.transport = {
      name: "fake",
      send(data) { server.sent.push(data); },
      close() { server.closed = true; },
    };
    servers.push(server);
    return server.transport;
  };
  return servers;
}

async function until(predicate, timeout = 2000) {
  const end = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await sleep(5);
  }
}

test("escape and unescape header values", () => {
  const raw = "a:b\nc\\d\re";
  assert.equal(escapeHeader(raw, "1.2"), "a\\cb\\nc\\\\d\\re");
  assert.equal(unescapeHeader(escapeHeader(raw, "1.2"), "1.2"), raw);
  assert.equal(unescapeHeader("x\\cy", "1.0"), "x\\cy");
  assert.equal(unescapeHeader("x\\ty", "1.2"), "x\\ty");
});

test("parser: several frames, heart-beats, content-length with NUL, split input", () => {
  const p = new StompFrameParser();
  p.version = "1.2";
  const body = new Uint8Array([104, 0, 105]);
  const frame1 = encodeFrame("MESSAGE", { destination: "/topic/a", "content-length": 3 }, body, "1.2");
  const frame2 = new TextEncoder().encode("MESSAGE\r\nk\\c:v\\nw\r\nk\\c:second\r\n\r\nh\u00e9llo\0");
  const all = new Uint8Array([0x0a, ...frame1, 0x0d, 0x0a, ...frame2, 0x0a]);
  const events = [];
  for (let i = 0; i < all.length; i += 7) events.push(...p.push(all.subarray(i, i + 7)));
  assert.deepEqual(events.map((e) => e.type), ["heartbeat", "frame", "heartbeat", "frame", "heartbeat"]);
  assert.deepEqual([...events[1].frame.binaryBody], [104, 0, 105]);
  assert.equal(events[3].frame.headers["k:"], "v\nw", "unescaped, first occurrence wins");
  assert.equal(events[3].frame.body, "h\u00e9llo");
});

test("parser: CONNECTED headers are not unescaped; bad input throws", () => {
  const p = new StompFrameParser();
  p.version = "1.2";
  const [e] = p.push("CONNECTED\nserver:x\\cy\n\n\0");
  assert.equal(e.frame.headers.server, "x\\cy");
  assert.throws(() => p.push("connected\n\n\0"));
  assert.throws(() => new StompFrameParser().push("MESSAGE\nno-colon\n\n\0"));
});

test("encodeFrame: escapes except in CONNECT, counts UTF-8 bytes", () => {
  assert.equal(text(encodeFrame("SEND", { "x-y": "a:b" }, "é", "1.2")), "SEND\nx-y:a\\cb\n\né\0");
  assert.equal(text(encodeFrame("CONNECT", { host: "h:1" }, null, "1.2")), "CONNECT\nhost:h:1\n\n\0");
});

test("client: connect, subscribe, message, receipt, ack headers", async () => {
  const servers = installFakeTransport();
  const states = [];
  const client = new PerigeeClient({
    url: "ws://example.test:1/stomp", transports: ["fake"], heartbeat: { outgoing: 0, incoming: 0 },
    onStateChange: (s) => states.push(s),
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
  assert.deepEqual(subscribe.headers, { ack: "client-individual", id: sub.id, destination: "/topic/a" });

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

test("client: reconnects with backoff, resubscribes, flushes queued sends", async () => {
  const servers = installFakeTransport();
  const states = [];
  const client = new PerigeeClient({
    transports: ["fake"], url: "ws://h/stomp", heartbeat: { outgoing: 0, incoming: 0 },
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
  await until(() => servers.length === 2);
  servers[1].drop(); // a failed attempt: backoff grows
  await until(() => servers.length === 3);
  servers[2].open();
  servers[2].reply("CONNECTED\nversion:1.1\n\n\0");
  await queued;
  const frames = servers[2].frames();
  assert.deepEqual(frames.map((f) => f.command), ["CONNECT", "SUBSCRIBE", "SEND"]);
  assert.equal(frames[1].headers.id, sub.id);
  assert.equal(frames[2].body, "queued");
  assert.deepEqual(states, ["connecting", "connected", "reconnecting", "connected"]);
  await client.disconnect({ timeout: 10 });
});

test("client: heart-beats out, and a silent server is dropped", async () => {
  const servers = installFakeTransport();
  const errors = [];
  const client = new PerigeeClient({
    transports: ["fake"], url: "ws://h/stomp", heartbeat: { outgoing: 40, incoming: 40 },
    reconnect: { initialDelay: 1000, maxDelay: 1000 }, onError: (e) => errors.push(e.message),
  });
  client.connect();
  servers[0].open();
  assert.equal(servers[0].frames()[0].headers["heart-beat"], "40,40");
  servers[0].reply("CONNECTED\nversion:1.2\nheart-beat:40,40\n\n\0");
  const started = Date.now();
  for (let i = 0; i < 8; i++) { await sleep(25); servers[0].reply("\n"); }
  assert.ok(servers[0].sent.filter((d) => d === "\n").length >= 2, "client sent heart-beats");
  assert.equal(client.state, "connected", "server heart-beats keep it alive");
  await until(() => client.state === "reconnecting", 3000);
  assert.ok(Date.now() - started >= 200);
  assert.ok(servers[0].closed);
  assert.match(errors.join(" "), /silent/);
  await client.disconnect();
});

test("client: ERROR frame reaches onError and rejects its receipt", async () => {
  const servers = installFakeTransport();
  const errors = [];
  const client = new PerigeeClient({
    transports: ["fake"], url: "ws://h/stomp", heartbeat: { outgoing: 0, incoming: 0 },
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
