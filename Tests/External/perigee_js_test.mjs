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
function installFakeTransport(name = "fake") {
  const servers = [];
  PerigeeClient.transports[name] = (url, protocols) => {
    const server = {
      url, protocols, sent: [], closed: false, transport: null,
      open() { this.transport.onopen(); },
      reply(data) { this.transport.onmessage(data); },
      drop(code = 1006) { this.closed = true; this.transport.onclose({ code, reason: "", opened: true }); },
      fail() { this.closed = true; this.transport.onclose({ code: 1006, reason: "", opened: false }); },
      frames() {
        const parser = new StompFrameParser();
        return this.sent.flatMap((d) => parser.push(d)).filter((e) => e.type === "frame").map((e) => e.frame);
      },
    };
    server.transport = {
      name,
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

test("client: the default transport order is websocket, xhr-streaming, eventsource, xhr-polling", () => {
  const client = new PerigeeClient({ url: "ws://h/stomp" });
  assert.deepEqual(client.options.transports, ["websocket", "xhr-streaming", "eventsource", "xhr-polling"]);
  for (const name of client.options.transports) assert.equal(typeof PerigeeClient.transports[name], "function");
});

test("client: falls back on failure and on timeout; a reconnect starts with the last working one", async () => {
  const f1 = installFakeTransport("f1");
  const f2 = installFakeTransport("f2");
  const f3 = installFakeTransport("f3");
  const states = [];
  const client = new PerigeeClient({
    url: "ws://h/stomp", transports: ["f1", "f2", "f3"], connectTimeout: 60,
    heartbeat: { outgoing: 0, incoming: 0 }, reconnect: { initialDelay: 20, maxDelay: 40 },
    onStateChange: (s) => states.push(s),
  });
  client.connect();
  f1[0].fail(); // refused before opening: the next transport at once
  await until(() => f2.length === 1);
  f2[0].open(); // opens but never answers CONNECT: given up after connectTimeout
  const opened = Date.now();
  await until(() => f3.length === 1, 1000);
  assert.ok(Date.now() - opened >= 50, "waited for the connect timeout");
  assert.ok(f2[0].closed);
  f3[0].open();
  f3[0].reply("CONNECTED\nversion:1.2\n\n\0");
  assert.equal(client.transport, "f3");
  assert.deepEqual(states, ["connecting", "connected"]);

  f3[0].drop(); // lost: the reconnect tries f3 first
  assert.equal(client.transport, null);
  await until(() => f3.length === 2);
  assert.equal(f1.length, 1);
  f3[1].fail(); // then the others, in order
  await until(() => f1.length === 2);
  f1[1].fail();
  await until(() => f2.length === 2);
  f2[1].fail(); // a whole round failed: the next round waits for the backoff, f3 first again
  await until(() => f3.length === 3);
  f3[2].open();
  f3[2].reply("CONNECTED\nversion:1.2\n\n\0");
  assert.equal(client.state, "connected");
  await client.disconnect({ timeout: 10 });

  // connect() after disconnect() starts from the preferred order again.
  client.connect();
  await until(() => f1.length === 3);
  await client.disconnect({ timeout: 10 });
});

/** A scripted fetch: each request waits until the test answers it. */
function fakeFetch() {
  const requests = [];
  const fetch = (url, init = {}) => new Promise((resolve, reject) => {
    const request = {
      url, method: init.method, body: init.body, headers: init.headers || {}, settled: false,
      respond(status, body = "") {
        this.settled = true;
        resolve(new Response(status === 204 ? null : body, { status }));
      },
      fail(message = "network error") { this.settled = true; reject(new TypeError(message)); },
    };
    if (init.signal) init.signal.addEventListener("abort", () => { if (!request.settled) request.fail("aborted"); });
    requests.push(request);
  });
  const find = (kind, from = 0) => requests.slice(from).find((r) => r.url.endsWith("/" + kind) && !r.settled);
  return { fetch, requests, find };
}

const SESSION_URL = /^http:\/\/h:1\/stomp\/\d{3}\/[a-z0-9]{8,}\/(xhr|xhr_send|xhr_streaming|eventsource)$/;

test("sockjs xhr-polling: session URL, o/a/h/c frames, xhr_send with a JSON array in order", async () => {
  const net = fakeFetch();
  const states = [];
  const client = new PerigeeClient({
    url: "ws://h:1/stomp", transports: ["xhr-polling"], fetch: net.fetch,
    heartbeat: { outgoing: 0, incoming: 0 }, reconnect: { initialDelay: 5000, maxDelay: 5000 },
    onStateChange: (s) => states.push(s),
  });
  const got = [];
  const sub = client.subscribe("/topic/a", (m) => got.push(m.body));
  client.connect();
  await until(() => net.find("xhr"));
  const poll = net.find("xhr");
  assert.match(poll.url, SESSION_URL);
  assert.equal(poll.method, "POST");
  poll.respond(200, "o\n");
  await until(() => net.find("xhr_send"));
  const connect = net.find("xhr_send");
  assert.equal(connect.url, poll.url.replace(/xhr$/, "xhr_send"));
  const batch = JSON.parse(connect.body);
  assert.ok(Array.isArray(batch) && batch.length === 1 && batch[0].startsWith("CONNECT\n"), connect.body);
  connect.respond(204);
  await until(() => net.find("xhr"));
  net.find("xhr").respond(200, 'a["CONNECTED\\nversion:1.2\\n\\n\\u0000"]\n');
  await until(() => client.state === "connected");
  assert.equal(client.transport, "xhr-polling");
  await until(() => net.find("xhr_send"));
  const subscribe = net.find("xhr_send");
  assert.match(JSON.parse(subscribe.body)[0], /^SUBSCRIBE\n/);
  // While that send is in flight, two more frames queue up: they go out together, after it.
  client.send("/topic/a", "one \u2713");
  client.send("/topic/a", 'two "quoted"\n');
  assert.equal(net.requests.filter((r) => r.url.endsWith("/xhr_send")).length, 2);
  subscribe.respond(204);
  await until(() => net.find("xhr_send"));
  const sends = JSON.parse(net.find("xhr_send").body);
  assert.deepEqual(sends.map((f) => f.split("\n\n")[1]), ["one \u2713\0", 'two "quoted"\n\0']);
  net.find("xhr_send").respond(204);

  await until(() => net.find("xhr"));
  net.find("xhr").respond(200, "h\n");
  await until(() => net.find("xhr"));
  const message = (body) => `MESSAGE\nsubscription:${sub.id}\nmessage-id:1\ndestination:/topic/a\n\n${body}\0`;
  net.find("xhr").respond(200, "a" + JSON.stringify([message("x"), "\n", message("y\u2028")]) + "\n");
  await until(() => got.length === 2);
  assert.deepEqual(got, ["x", "y\u2028"]);
  await until(() => net.find("xhr"));
  net.find("xhr").respond(200, 'c[3000,"Go away!"]\n');
  await until(() => client.state === "reconnecting");
  assert.deepEqual(states, ["connecting", "connected", "reconnecting"]);
  await client.disconnect({ timeout: 10 });
});

test("sockjs xhr-polling: an unknown session (404) closes the transport", async () => {
  const net = fakeFetch();
  const errors = [];
  const client = new PerigeeClient({
    url: "http://h:1/stomp", transports: ["xhr-polling"], fetch: net.fetch, reconnect: false,
    heartbeat: { outgoing: 0, incoming: 0 }, debug: (t) => errors.push(t),
  });
  client.connect();
  await until(() => net.find("xhr"));
  assert.match(net.find("xhr").url, SESSION_URL);
  net.find("xhr").respond(404, "Not found");
  await until(() => client.state === "disconnected");
  assert.match(errors.join("\n"), /HTTP 404/);
});

test("sockjs xhr-streaming: skips the prelude, frames split across chunks, reopens the stream", async () => {
  const net = fakeFetch();
  const streams = [];
  const streamingFetch = (url, init) => {
    if (!url.endsWith("/xhr_streaming")) return net.fetch(url, init);
    let controller;
    const body = new ReadableStream({ start(c) { controller = c; } });
    streams.push({ url, method: init.method, push: (t) => controller.enqueue(typeof t === "string" ? new TextEncoder().encode(t) : t), end: () => controller.close() });
    return Promise.resolve(new Response(body, { status: 200 }));
  };
  const client = new PerigeeClient({
    url: "ws://h:1/stomp", transports: ["xhr-streaming"], fetch: streamingFetch,
    heartbeat: { outgoing: 0, incoming: 0 }, reconnect: false,
  });
  const got = [];
  const sub = client.subscribe("/topic/a", (m) => got.push(m.body));
  client.connect();
  await until(() => streams.length === 1);
  assert.match(streams[0].url, SESSION_URL);
  assert.equal(streams[0].method, "POST");
  streams[0].push("h".repeat(1000));
  streams[0].push("h".repeat(1048) + "\no");
  streams[0].push("\n");
  await until(() => net.find("xhr_send"));
  assert.match(JSON.parse(net.find("xhr_send").body)[0], /^CONNECT\n/);
  net.find("xhr_send").respond(204);
  streams[0].push('a["CONNECTED\\nversion:1.2\\n\\n\\u0000"]\nh\n');
  await until(() => client.state === "connected");
  assert.equal(client.transport, "xhr-streaming");
  await until(() => net.find("xhr_send"));
  net.find("xhr_send").respond(204); // the SUBSCRIBE
  const frame = "a" + JSON.stringify([`MESSAGE\nsubscription:${sub.id}\nmessage-id:1\ndestination:/topic/a\n\nh\u00e9llo\0`]) + "\n";
  const bytes = new TextEncoder().encode(frame);
  const cut = bytes.indexOf(0xc3) + 1; // between the two bytes of é
  streams[0].push(bytes.subarray(0, cut));
  streams[0].push(bytes.subarray(cut));
  await until(() => got.length === 1);
  assert.deepEqual(got, ["h\u00e9llo"]);
  // The server ends the response after its byte limit: the same session continues.
  streams[0].end();
  await until(() => streams.length === 2);
  assert.equal(streams[1].url, streams[0].url);
  streams[1].push("h".repeat(2048) + "\n" + frame);
  await until(() => got.length === 2);
  streams[1].push('c[3000,"Go away!"]\n');
  await until(() => client.state === "disconnected");
});

test("sockjs eventsource: data events are frames; a new EventSource resumes an ended stream", async () => {
  const net = fakeFetch();
  const sources = [];
  class FakeEventSource {
    constructor(url, init) { this.url = url; this.init = init; this.closed = false; sources.push(this); }
    close() { this.closed = true; }
    emit(data) { this.onmessage({ data }); }
  }
  const client = new PerigeeClient({
    url: "ws://h:1/stomp", transports: ["eventsource"], fetch: net.fetch, EventSource: FakeEventSource,
    heartbeat: { outgoing: 0, incoming: 0 }, reconnect: false,
  });
  const got = [];
  const sub = client.subscribe("/topic/a", (m) => got.push(m.body));
  client.connect();
  assert.equal(sources.length, 1);
  assert.match(sources[0].url, SESSION_URL);
  sources[0].emit("o");
  await until(() => net.find("xhr_send"));
  net.find("xhr_send").respond(204);
  sources[0].emit('a["CONNECTED\\nversion:1.2\\n\\n\\u0000"]');
  assert.equal(client.transport, "eventsource");
  await until(() => net.find("xhr_send"));
  net.find("xhr_send").respond(204);
  sources[0].emit("a" + JSON.stringify([`MESSAGE\nsubscription:${sub.id}\nmessage-id:1\n\none\0`]));
  sources[0].onerror(); // the response ended
  assert.ok(sources[0].closed);
  assert.equal(sources.length, 2);
  assert.equal(sources[1].url, sources[0].url);
  sources[1].emit("a" + JSON.stringify([`MESSAGE\nsubscription:${sub.id}\nmessage-id:2\n\ntwo\0`]));
  assert.deepEqual(got, ["one", "two"]);
  sources[1].onerror(); // ended again...
  sources[2].onerror(); // ...and the next one fails before any frame: the transport is over
  assert.equal(client.state, "disconnected");
});
