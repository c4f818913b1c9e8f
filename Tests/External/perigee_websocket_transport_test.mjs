// web/perigee/websocket-transport.js against a fake WebSocket class.
//   node --test Tests/External/perigee_websocket_transport_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { webSocketTransport, webSocketUrl } from "../../web/perigee/websocket-transport.js";

function fakeWebSocket() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url, protocols) {
      Object.assign(this, { url, protocols, sent: [], closedWith: null, protocol: "v12.stomp" });
      sockets.push(this);
    }
    send(data) { this.sent.push(data); }
    close(code, reason) { this.closedWith = [code, reason]; }
  }
  return { WebSocket: FakeWebSocket, sockets };
}

test("webSocketUrl turns http(s) into ws(s) and keeps ws(s)", () => {
  assert.equal(webSocketUrl("http://h:1/stomp"), "ws://h:1/stomp");
  assert.equal(webSocketUrl("https://h/stomp"), "wss://h/stomp");
  assert.equal(webSocketUrl("wss://h/stomp"), "wss://h/stomp");
});

test("websocket transport: opens with the subprotocols, relays events, reports whether it opened", () => {
  const { WebSocket, sockets } = fakeWebSocket();
  const t = webSocketTransport("https://h/stomp", ["v12.stomp", "v11.stomp"], { options: { WebSocket } });
  const [s] = sockets;
  assert.equal(s.url, "wss://h/stomp");
  assert.deepEqual(s.protocols, ["v12.stomp", "v11.stomp"]);
  assert.equal(s.binaryType, "arraybuffer");
  const events = [];
  t.onopen = () => events.push("open");
  t.onmessage = (data) => events.push(data);
  t.onclose = (info) => events.push(info);
  s.onopen();
  s.onmessage({ data: "CONNECTED\n\n\0" });
  t.send("x");
  assert.deepEqual(s.sent, ["x"]);
  assert.equal(t.protocol, "v12.stomp");
  t.close();
  assert.deepEqual(s.closedWith, [1000, ""]);
  s.onerror();
  s.onclose({ code: 1006, reason: "gone" });
  assert.deepEqual(events, ["open", "CONNECTED\n\n\0", { code: 1006, reason: "gone", opened: true }]);
  assert.equal(s.onclose, null, "no event reaches the transport after close");
});

test("websocket transport: a socket refused before opening closes with opened false", () => {
  const { WebSocket, sockets } = fakeWebSocket();
  const t = webSocketTransport("ws://h/stomp", [], { options: { WebSocket } });
  let info = null;
  t.onclose = (i) => { info = i; };
  sockets[0].onclose({ code: 1006, reason: "" });
  assert.deepEqual(info, { code: 1006, reason: "", opened: false });
});
