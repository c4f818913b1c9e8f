// web/perigee/sockjs-transports.js through PerigeeClient, with a scripted fetch and
// EventSource (no server):   node --test Tests/External/perigee_sockjs_transports_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { PerigeeClient } from "../../web/perigee/client.js";
import { unescapeEventSourceData } from "../../web/perigee/sockjs-transports.js";
import { fakeEventSource, fakeFetch, until } from "./perigee_js_support.mjs";

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

/** A client on the eventsource transport, connected, subscribed to /topic/a. */
async function eventSourceClient(options = {}) {
  const net = fakeFetch();
  const { EventSource, sources } = fakeEventSource();
  const got = [];
  const client = new PerigeeClient({
    url: "ws://h:1/stomp", transports: ["eventsource"], fetch: net.fetch, EventSource,
    heartbeat: { outgoing: 0, incoming: 0 }, reconnect: false, ...options,
  });
  const sub = client.subscribe("/topic/a", (m) => got.push(m));
  client.connect();
  sources[0].emit("o");
  await until(() => net.find("xhr_send"));
  net.find("xhr_send").respond(204);
  sources[0].emit('a["CONNECTED\\nversion:1.2\\n\\n\\u0000"]');
  await until(() => net.find("xhr_send"));
  net.find("xhr_send").respond(204);
  return { client, sub, got, sources, net };
}

test("sockjs eventsource: data events are frames; a new EventSource resumes an ended stream", async () => {
  const { client, sub, got, sources } = await eventSourceClient();
  assert.equal(sources.length, 1);
  assert.match(sources[0].url, SESSION_URL);
  assert.equal(client.transport, "eventsource");
  sources[0].emit("a" + JSON.stringify([`MESSAGE\nsubscription:${sub.id}\nmessage-id:1\n\none\0`]));
  sources[0].onerror(); // the response ended
  assert.ok(sources[0].closed);
  assert.equal(sources.length, 2);
  assert.equal(sources[1].url, sources[0].url);
  sources[1].emit("a" + JSON.stringify([`MESSAGE\nsubscription:${sub.id}\nmessage-id:2\n\ntwo\0`]));
  assert.deepEqual(got.map((m) => m.body), ["one", "two"]);
  sources[1].onerror(); // ended again...
  sources[2].onerror(); // ...and the next one fails before any frame: the transport is over
  assert.equal(client.state, "disconnected");
});

/** A SockJS frame as a SockJS server writes it into an EventSource `data:` line. */
const eventSourceData = (frame) => frame.split("%").join("%25");

test("unescapeEventSourceData: decodeURI semantics, null for a malformed escape", () => {
  assert.equal(unescapeEventSourceData("a[\"100%25 sure\"]"), 'a["100% sure"]');
  assert.equal(unescapeEventSourceData("%2523 stays %23"), "%23 stays %23", "decoded once; # stays escaped");
  assert.equal(unescapeEventSourceData("h"), "h");
  assert.equal(unescapeEventSourceData("x%0Ay%0Dz%00"), "x\ny\rz\0", "sockjs-node also escapes CR, LF, NUL");
  assert.equal(unescapeEventSourceData("%3B%2F%3F"), "%3B%2F%3F", "reserved characters stay escaped, as in decodeURI");
  assert.equal(unescapeEventSourceData("%C3%A9"), "\u00e9");
  assert.equal(unescapeEventSourceData("100% sure"), null);
  assert.equal(unescapeEventSourceData("%E9"), null, "not UTF-8");
  assert.equal(unescapeEventSourceData("ends with %2"), null);
});

test("sockjs eventsource: a % in a message survives the server's %25 escaping", async () => {
  const { client, sub, got, sources } = await eventSourceClient();
  const frame = `MESSAGE\nsubscription:${sub.id}\nmessage-id:1\nx-rate:50%\n\nbody 100% sure, 100%25 literal\0`;
  const data = eventSourceData("a" + JSON.stringify([frame]));
  assert.match(data, /body 100%25 sure, 100%2525 literal/);
  sources[0].emit(data);
  assert.deepEqual(got.map((m) => m.body), ["body 100% sure, 100%25 literal"]);
  assert.equal(got[0].headers["x-rate"], "50%");
  assert.equal(client.state, "connected", "the message did not break the connection");
  await client.disconnect({ timeout: 1 });
});

test("sockjs eventsource: a malformed escape closes the transport instead of throwing", async () => {
  const log = [];
  const { client, sub, got, sources } = await eventSourceClient({ debug: (t) => log.push(t) });
  assert.doesNotThrow(() => sources[0].emit(`a["MESSAGE\\nsubscription:${sub.id}\\n\\n100% raw\\u0000"]`));
  assert.deepEqual(got, []);
  assert.equal(client.state, "disconnected");
  assert.ok(sources[0].closed);
  assert.match(log.join("\n"), /malformed escape in eventsource data/);
});

test("sockjs: every request sends cookies cross-origin; the token goes in CONNECT, never in a URL", async () => {
  const TOKEN = "tok.en-123";
  // xhr-polling: the polls and the sends.
  const polling = fakeFetch();
  const a = new PerigeeClient({
    url: "ws://other-origin.test:1/stomp", transports: ["xhr-polling"], fetch: polling.fetch, token: async () => TOKEN,
    heartbeat: { outgoing: 0, incoming: 0 }, reconnect: false,
  });
  a.connect();
  await until(() => polling.find("xhr"));
  polling.find("xhr").respond(200, "o\n");
  await until(() => polling.find("xhr_send"));
  const connect = JSON.parse(polling.find("xhr_send").body)[0];
  assert.match(connect, new RegExp("^CONNECT\\n(.*\\n)*Authorization:Bearer " + TOKEN.replace(".", "\\.") + "\\n"));
  polling.find("xhr_send").respond(204);
  await until(() => polling.find("xhr"));
  const used = polling.requests.map((r) => [r.url.split("/").pop(), r.credentials]);
  assert.deepEqual(used, [["xhr", "include"], ["xhr_send", "include"], ["xhr", "include"]]);
  await a.disconnect({ timeout: 1 });

  // xhr-streaming: the streaming request.
  const streamed = [];
  const b = new PerigeeClient({
    url: "ws://other-origin.test:1/stomp", transports: ["xhr-streaming"], token: TOKEN,
    fetch: (url, init) => { streamed.push({ url, credentials: init.credentials }); return new Promise(() => {}); },
    heartbeat: { outgoing: 0, incoming: 0 }, reconnect: false,
  });
  b.connect();
  await until(() => streamed.length === 1);
  assert.match(streamed[0].url, /\/xhr_streaming$/);
  assert.equal(streamed[0].credentials, "include");
  await b.disconnect({ timeout: 1 });

  // eventsource.
  const { EventSource, sources } = fakeEventSource();
  const c = new PerigeeClient({
    url: "ws://other-origin.test:1/stomp", transports: ["eventsource"], fetch: polling.fetch, EventSource, token: TOKEN,
    heartbeat: { outgoing: 0, incoming: 0 }, reconnect: false,
  });
  c.connect();
  await until(() => sources.length === 1);
  assert.deepEqual(sources[0].init, { withCredentials: true });
  await c.disconnect({ timeout: 1 });

  for (const url of [...polling.requests.map((r) => r.url), ...streamed.map((r) => r.url), sources[0].url]) {
    assert.ok(!url.includes(TOKEN) && !/token/i.test(url), url);
  }
});
