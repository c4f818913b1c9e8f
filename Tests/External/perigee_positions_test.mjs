// Topic positions and resuming in web/perigee/client.js (issue 11): positions remembered from
// MESSAGE and RECEIPT, perigee-since on every resubscribe (after a reconnect, after falling
// back to a SockJS transport), onRecovery, presence events, history, an application's since.
//   node --test Tests/External/perigee_positions_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { PerigeeClient } from "../../web/perigee/client.js";
import { formatPosition, isAhead, parsePosition, positionOf } from "../../web/perigee/positions.js";
import { FakeClock, disconnectNow, fakeFetch, framesOf, installFakeTransport, until } from "./perigee_js_support.mjs";

const NO_HEARTBEAT = { outgoing: 0, incoming: 0 };
const EPOCH = "k3x9a0b1c2d3e";
const NEW_EPOCH = "zz0000000001q";

function message(sub, body, epoch = EPOCH, offset = null, extra = "") {
  const position = offset === null ? "" : `perigee-epoch:${epoch}\nperigee-offset:${offset}\n`;
  return `MESSAGE\ndestination:/topic/a\nmessage-id:m-${body}\nsubscription:${sub.id}\n${position}${extra}\n${body}\0`;
}

function receipt(id, headers = {}) {
  return "RECEIPT\nreceipt-id:" + id + "\n" + Object.entries(headers).map(([k, v]) => `${k}:${v}\n`).join("") + "\n\0";
}

/** A client on one fake transport, connected; `next()` drops the connection and reconnects. */
function connected(options = {}) {
  const servers = installFakeTransport();
  const clock = new FakeClock();
  const recoveries = [];
  const client = new PerigeeClient({
    url: "ws://h/stomp", transports: ["fake"], heartbeat: NO_HEARTBEAT, clock,
    reconnect: { initialDelay: 20, maxDelay: 40 },
    onRecovery: (sub, recovered, frame) => recoveries.push(["client", sub.id, recovered, frame.headers["receipt-id"]]),
    ...options,
  });
  client.connect();
  servers[0].open();
  servers[0].reply("CONNECTED\nversion:1.2\n\n\0");
  const server = () => servers[servers.length - 1];
  const subscribes = () => server().frames().filter((f) => f.command === "SUBSCRIBE");
  const next = () => {
    server().drop();
    clock.fireNext();
    server().open();
    server().reply("CONNECTED\nversion:1.2\n\n\0");
  };
  return { client, clock, servers, server, subscribes, next, recoveries };
}

test("positions: parse, format, read from headers, compare", () => {
  assert.deepEqual(parsePosition(`${EPOCH}:42`), { epoch: EPOCH, offset: 42 });
  assert.equal(parsePosition("nocolon"), null);
  assert.equal(parsePosition(`${EPOCH}:-1`), null);
  assert.equal(parsePosition(":5"), null);
  assert.equal(formatPosition({ epoch: EPOCH, offset: 7 }), `${EPOCH}:7`);
  assert.deepEqual(positionOf({ "perigee-epoch": EPOCH, "perigee-offset": "3" }), { epoch: EPOCH, offset: 3 });
  assert.equal(positionOf({ "perigee-epoch": EPOCH }), null);
  assert.equal(positionOf({ "perigee-epoch": EPOCH, "perigee-offset": "x" }), null);
  assert.equal(positionOf({}), null);
  assert.ok(isAhead({ epoch: EPOCH, offset: 2 }, null));
  assert.ok(isAhead({ epoch: NEW_EPOCH, offset: 1 }, { epoch: EPOCH, offset: 9 }));
  assert.ok(!isAhead({ epoch: EPOCH, offset: 2 }, { epoch: EPOCH, offset: 2 }));
});

test("positions: a subscription remembers the last position of its MESSAGEs and resubscribes from it", () => {
  const t = connected();
  const got = [];
  const sub = t.client.subscribe("/topic/a", (m) => got.push([m.body, sub.position]));
  const first = t.subscribes()[0];
  assert.equal(first.headers["perigee-since"], undefined, "nothing to resume from on the first SUBSCRIBE");
  assert.equal(sub.position, null);
  t.server().reply(receipt(first.headers.receipt, { "perigee-epoch": EPOCH, "perigee-offset": "4" }));
  assert.deepEqual(sub.position, { epoch: EPOCH, offset: 4 }, "the RECEIPT's head");
  t.server().reply(message(sub, "five", EPOCH, 5) + message(sub, "six", EPOCH, 6));
  assert.deepEqual(sub.position, { epoch: EPOCH, offset: 6 });
  assert.deepEqual(got[0], ["five", { epoch: EPOCH, offset: 5 }], "the position is updated before the callback");
  assert.deepEqual(t.recoveries, [], "no onRecovery without a resume");

  t.next();
  const again = t.subscribes();
  assert.equal(again.length, 1);
  assert.equal(again[0].headers.id, sub.id, "same id");
  assert.equal(again[0].headers["perigee-since"], `${EPOCH}:6`);
  assert.ok(again[0].headers.receipt, "a resume asks for a receipt");
  // The replayed messages come after the RECEIPT and before live ones, like live ones.
  t.server().reply(receipt(again[0].headers.receipt, {
    "perigee-recovered": "true", "perigee-replayed": "2", "perigee-epoch": EPOCH, "perigee-offset": "8",
  }));
  assert.deepEqual(t.recoveries, [["client", sub.id, true, again[0].headers.receipt]]);
  assert.deepEqual(sub.position, { epoch: EPOCH, offset: 6 }, "with messages replayed, the head waits for them");
  t.server().reply(message(sub, "seven", EPOCH, 7));
  t.next(); // lost in the middle of the replay: resume after the last one that arrived
  assert.equal(t.subscribes()[0].headers["perigee-since"], `${EPOCH}:7`);
  t.server().reply(receipt(t.subscribes()[0].headers.receipt, {
    "perigee-recovered": "true", "perigee-replayed": "1", "perigee-epoch": EPOCH, "perigee-offset": "8",
  }));
  t.server().reply(message(sub, "eight", EPOCH, 8) + message(sub, "nine", EPOCH, 9));
  assert.deepEqual(got.map(([body]) => body), ["five", "six", "seven", "eight", "nine"]);
  assert.deepEqual(sub.position, { epoch: EPOCH, offset: 9 });
  return disconnectNow(t.client, t.clock);
});

test("positions: a RECEIPT's head does not move the position back behind a MESSAGE that overtook it", () => {
  const t = connected();
  const sub = t.client.subscribe("/topic/a", () => {});
  const first = t.subscribes()[0];
  t.server().reply(message(sub, "live", EPOCH, 11));
  t.server().reply(receipt(first.headers.receipt, { "perigee-epoch": EPOCH, "perigee-offset": "10" }));
  assert.deepEqual(sub.position, { epoch: EPOCH, offset: 11 });
  return disconnectNow(t.client, t.clock);
});

test("positions: onRecovery false after a restart (new epoch); the position moves to the new head", () => {
  const perSub = [];
  const t = connected();
  const sub = t.client.subscribe("/topic/a", () => {}, {}, {
    onRecovery: (s, recovered, frame) => perSub.push(["sub", s.id, recovered, frame.headers["perigee-replayed"]]),
  });
  t.server().reply(receipt(t.subscribes()[0].headers.receipt));
  t.server().reply(message(sub, "one", EPOCH, 1));
  t.next();
  const resume = t.subscribes()[0];
  assert.equal(resume.headers["perigee-since"], `${EPOCH}:1`);
  t.server().reply(receipt(resume.headers.receipt, {
    "perigee-recovered": "false", "perigee-replayed": "0", "perigee-epoch": NEW_EPOCH, "perigee-offset": "0",
  }));
  assert.deepEqual(perSub, [["sub", sub.id, false, "0"]]);
  assert.deepEqual(t.recoveries.map((r) => r.slice(0, 3)), [["client", sub.id, false]],
    "the subscription's onRecovery, then the client's");
  assert.deepEqual(sub.position, { epoch: NEW_EPOCH, offset: 0 });
  t.next();
  assert.equal(t.subscribes()[0].headers["perigee-since"], `${NEW_EPOCH}:0`, "the next resume is from the new head");
  // A server that does not know perigee-since answers without perigee-recovered: not recovered.
  t.server().reply(receipt(t.subscribes()[0].headers.receipt));
  assert.deepEqual(perSub.map((r) => r[2]), [false, false]);
  return disconnectNow(t.client, t.clock);
});

test("positions: presence events reach the callback and leave the position alone", () => {
  const t = connected();
  const got = [];
  const sub = t.client.subscribe("/topic/a", (m) => got.push(m.headers["perigee-event"] || m.body), {}, { presence: true });
  const first = t.subscribes()[0];
  assert.equal(first.headers["perigee-presence"], "true");
  t.server().reply(receipt(first.headers.receipt));
  t.server().reply(message(sub, "hello", EPOCH, 3));
  // An event without a position, and one that (wrongly) carries one: neither moves it.
  t.server().reply(message(sub, '{"user":"alice","data":null}', EPOCH, null, "perigee-event:join\ncontent-type:application/json\n"));
  t.server().reply(message(sub, '{"user":"bob","data":null}', EPOCH, 99, "perigee-event:leave\n"));
  assert.deepEqual(got, ["hello", "join", "leave"]);
  assert.deepEqual(sub.position, { epoch: EPOCH, offset: 3 });
  t.next();
  assert.equal(t.subscribes()[0].headers["perigee-since"], `${EPOCH}:3`);
  assert.equal(t.subscribes()[0].headers["perigee-presence"], "true", "presence on every SUBSCRIBE");
  return disconnectNow(t.client, t.clock);
});

test("positions: a history count that is not a whole number is refused at subscribe, never sent", () => {
  const t = connected();
  for (const bad of [-1, 1e21, 2.5, "abc", "", true, "5 "]) {
    assert.throws(() => t.client.subscribe("/topic/a", () => {}, {}, { history: bad }), TypeError, String(bad));
    assert.throws(() => t.client.subscribe("/topic/a", () => {}, { "perigee-history": bad }), TypeError, String(bad));
  }
  assert.equal(t.subscribes().length, 0, "nothing was sent for a refused count");
  t.client.subscribe("/topic/a", () => {}, {}, { history: 12345678901 });
  assert.equal(t.subscribes()[0].headers["perigee-history"], "12345678901", "a large count is the server's to bound");
  return disconnectNow(t.client, t.clock);
});

test("positions: history (option or header) goes on every SUBSCRIBE; queues never resume", () => {
  const t = connected();
  const sub = t.client.subscribe("/topic/a", () => {}, {}, { history: 50 });
  const viaHeader = t.client.subscribe("/topic/b", () => {}, { "perigee-history": "5", ack: "auto" });
  const queue = t.client.subscribe("/queue/q", () => {});
  const [a, b, q] = t.subscribes();
  assert.equal(a.headers["perigee-history"], "50");
  assert.equal(b.headers["perigee-history"], "5");
  assert.equal(b.headers.ack, "auto");
  assert.equal(q.headers["perigee-history"], undefined);
  t.server().reply(receipt(a.headers.receipt, { "perigee-replayed": "2", "perigee-epoch": EPOCH, "perigee-offset": "2" }));
  t.server().reply(message(sub, "one", EPOCH, 1) + message(sub, "two", EPOCH, 2));
  t.server().reply(receipt(b.headers.receipt, { "perigee-replayed": "0", "perigee-epoch": EPOCH, "perigee-offset": "0" }));
  t.server().reply(receipt(q.headers.receipt));
  t.server().reply(`MESSAGE\ndestination:/queue/q\nmessage-id:q1\nsubscription:${queue.id}\n\nq\0`);
  assert.deepEqual(t.recoveries, [], "a history request alone is not a resume");
  t.next();
  const again = Object.fromEntries(t.subscribes().map((f) => [f.headers.destination, f.headers]));
  assert.equal(again["/topic/a"]["perigee-since"], `${EPOCH}:2`);
  assert.equal(again["/topic/a"]["perigee-history"], "50", "since wins on the server; history is the fallback");
  assert.equal(again["/topic/b"]["perigee-since"], `${EPOCH}:0`, "a RECEIPT's head is enough to resume");
  assert.equal(again["/queue/q"]["perigee-since"], undefined);
  assert.equal(viaHeader.position.offset, 0);
  return disconnectNow(t.client, t.clock);
});

test("positions: an application's perigee-since is sent on the first SUBSCRIBE and reported", () => {
  const t = connected();
  const sub = t.client.subscribe("/topic/a", () => {}, { "perigee-since": `${EPOCH}:41` });
  assert.deepEqual(sub.position, { epoch: EPOCH, offset: 41 });
  const first = t.subscribes()[0];
  assert.equal(first.headers["perigee-since"], `${EPOCH}:41`);
  t.server().reply(receipt(first.headers.receipt, {
    "perigee-recovered": "true", "perigee-replayed": "0", "perigee-epoch": EPOCH, "perigee-offset": "41",
  }));
  assert.deepEqual(t.recoveries.map((r) => r.slice(0, 3)), [["client", sub.id, true]]);

  // Malformed: sent as given once; the server's answer replaces it.
  const odd = t.client.subscribe("/topic/b", () => {}, { "perigee-since": "garbage" });
  assert.equal(odd.position, null);
  const second = t.subscribes()[1];
  assert.equal(second.headers["perigee-since"], "garbage");
  t.server().reply(receipt(second.headers.receipt, {
    "perigee-recovered": "false", "perigee-replayed": "0", "perigee-epoch": EPOCH, "perigee-offset": "3",
  }));
  assert.deepEqual(t.recoveries.map((r) => r.slice(1, 3)), [[sub.id, true], [odd.id, false]]);
  t.next();
  const again = Object.fromEntries(t.subscribes().map((f) => [f.headers.destination, f.headers]));
  assert.equal(again["/topic/b"]["perigee-since"], `${EPOCH}:3`);

  // Not yet answered when the connection drops: the application's since is sent again.
  const later = t.client.subscribe("/topic/c", () => {}, { "perigee-since": "garbage" });
  t.next();
  const c = t.subscribes().find((f) => f.headers.destination === "/topic/c");
  assert.equal(c.headers["perigee-since"], "garbage");
  assert.equal(c.headers.id, later.id);
  return disconnectNow(t.client, t.clock);
});

test("positions: an unsubscribed subscription hears nothing of its late RECEIPT", () => {
  const t = connected();
  const calls = [];
  const sub = t.client.subscribe("/topic/a", () => {}, { "perigee-since": `${EPOCH}:1` },
    { onRecovery: () => calls.push("sub"), onSubscribed: () => calls.push("subscribed") });
  const first = t.subscribes()[0];
  sub.unsubscribe();
  t.server().reply(receipt(first.headers.receipt, { "perigee-recovered": "true" }));
  assert.deepEqual(calls, []);
  assert.deepEqual(t.recoveries, []);
  return disconnectNow(t.client, t.clock);
});

test("positions: onSubscribed hears every RECEIPT of the subscription's SUBSCRIBE", () => {
  const t = connected();
  const calls = [];
  const sub = t.client.subscribe("/topic/a", () => {}, {}, {
    onSubscribed: (s, frame) => calls.push([s.id, frame.headers["receipt-id"]]),
  });
  const first = t.subscribes()[0];
  t.server().reply(receipt(first.headers.receipt));
  t.next();
  const second = t.subscribes()[0];
  t.server().reply(receipt(second.headers.receipt));
  assert.deepEqual(calls, [[sub.id, first.headers.receipt], [sub.id, second.headers.receipt]]);
  return disconnectNow(t.client, t.clock);
});

/** A WebSocket class whose instances the test opens, feeds and closes. */
function fakeWebSocket() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url, protocols) { this.url = url; this.protocols = protocols; this.sent = []; sockets.push(this); }
    send(data) { this.sent.push(data); }
    close() { this.closed = true; }
  }
  return { WebSocket: FakeWebSocket, sockets };
}

test("positions: after falling back from WebSocket to xhr-polling, the SUBSCRIBE resumes", async () => {
  const ws = fakeWebSocket();
  const net = fakeFetch();
  const recoveries = [];
  const client = new PerigeeClient({
    url: "ws://h:1/stomp", transports: ["websocket", "xhr-polling"], WebSocket: ws.WebSocket, fetch: net.fetch,
    heartbeat: NO_HEARTBEAT, reconnect: { initialDelay: 2, maxDelay: 4 },
    onRecovery: (sub, recovered) => recoveries.push([sub.id, recovered]),
  });
  const got = [];
  const sub = client.subscribe("/topic/a", (m) => got.push(m.body), {}, { history: 10 });
  client.connect();
  await until(() => ws.sockets.length === 1);
  const socket = ws.sockets[0];
  socket.onopen();
  socket.onmessage({ data: "CONNECTED\nversion:1.2\n\n\0" });
  assert.equal(client.transport, "websocket");
  const [subscribe] = framesOf(socket.sent).filter((f) => f.command === "SUBSCRIBE");
  assert.equal(subscribe.headers["perigee-history"], "10");
  socket.onmessage({ data: receipt(subscribe.headers.receipt, { "perigee-replayed": "1", "perigee-epoch": EPOCH, "perigee-offset": "20" }) });
  socket.onmessage({ data: message(sub, "twenty", EPOCH, 20) });

  // The WebSocket goes; the next one never opens (a proxy in the way): xhr-polling at once.
  socket.onclose({ code: 1006, reason: "" });
  await until(() => ws.sockets.length === 2);
  ws.sockets[1].onclose({ code: 1006, reason: "" });
  await until(() => net.find("xhr"));
  net.find("xhr").respond(200, "o\n");
  await until(() => net.find("xhr_send"));
  net.find("xhr_send").respond(204); // CONNECT
  await until(() => net.find("xhr"));
  net.find("xhr").respond(200, 'a["CONNECTED\\nversion:1.2\\n\\n\\u0000"]\n');
  await until(() => client.state === "connected");
  assert.equal(client.transport, "xhr-polling");
  await until(() => net.find("xhr_send"));
  const send = net.find("xhr_send");
  const [resume] = framesOf(JSON.parse(send.body)).filter((f) => f.command === "SUBSCRIBE");
  assert.equal(resume.headers.id, sub.id);
  assert.equal(resume.headers["perigee-since"], `${EPOCH}:20`);
  assert.ok(resume.headers.receipt);
  send.respond(204);
  // RECEIPT, then the message published while the client was away, then a live one.
  await until(() => net.find("xhr"));
  net.find("xhr").respond(200, "a" + JSON.stringify([
    receipt(resume.headers.receipt, { "perigee-recovered": "true", "perigee-replayed": "1", "perigee-epoch": EPOCH, "perigee-offset": "21" }),
    message(sub, "twenty-one", EPOCH, 21), message(sub, "twenty-two", EPOCH, 22),
  ]) + "\n");
  await until(() => got.length === 3);
  assert.deepEqual(got, ["twenty", "twenty-one", "twenty-two"]);
  assert.deepEqual(recoveries, [[sub.id, true]]);
  assert.deepEqual(sub.position, { epoch: EPOCH, offset: 22 });
  await client.disconnect({ timeout: 1 });
});

test("positions: disconnect({timeout: 0}) closes at once; connect() again resumes the subscriptions", () => {
  const t = connected();
  const sub = t.client.subscribe("/topic/a", () => {});
  t.server().reply(receipt(t.subscribes()[0].headers.receipt));
  t.server().reply(message(sub, "one", EPOCH, 5));
  const first = t.server();
  t.client.disconnect({ timeout: 0 }); // as from a pagehide handler: no timer may run after it
  assert.equal(t.client.state, "disconnected");
  assert.ok(first.closed, "the transport is closed before disconnect() returns");
  assert.deepEqual(first.frames().map((f) => f.command).slice(-1), ["DISCONNECT"]);
  t.client.connect(); // pageshow from the back/forward cache
  t.server().open();
  t.server().reply("CONNECTED\nversion:1.2\n\n\0");
  assert.notEqual(t.server(), first);
  assert.equal(t.subscribes()[0].headers["perigee-since"], `${EPOCH}:5`);
  return disconnectNow(t.client, t.clock);
});
