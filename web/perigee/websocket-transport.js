/**
 * STOMP over a plain WebSocket (STOMP 1.2 "Connecting": subprotocols v12/v11/v10.stomp). A
 * transport is `{name, send(data), close()}` whose owner sets `onopen()`, `onmessage(data)`
 * and `onclose({code, reason, opened})`; see `PerigeeClient.transports`.
 */

/** The URL with an http(s) scheme turned into ws(s); others are kept. */
export function webSocketUrl(url) { return String(url).replace(/^http(s?):/i, "ws$1:"); }

/**
 * Open a WebSocket to `url` offering `protocols`. `client.options.WebSocket` replaces the
 * browser's implementation (tests). Binary messages arrive as ArrayBuffer.
 */
export function webSocketTransport(url, protocols, client) {
  const WS = client.options.WebSocket || globalThis.WebSocket;
  if (!WS) throw new Error("no WebSocket implementation available");
  const socket = new WS(webSocketUrl(url), protocols);
  socket.binaryType = "arraybuffer";
  let opened = false;
  const transport = {
    name: "websocket",
    onopen: null, onmessage: null, onclose: null,
    get protocol() { return socket.protocol; },
    send(data) { socket.send(data); },
    close() { try { socket.close(1000, ""); } catch (_) { /* already closed */ } },
  };
  socket.onopen = () => { opened = true; transport.onopen && transport.onopen(); };
  socket.onmessage = (event) => { transport.onmessage && transport.onmessage(event.data); };
  // onerror is always followed by onclose, which carries everything the client needs.
  socket.onerror = () => {};
  socket.onclose = (event) => {
    socket.onopen = socket.onmessage = socket.onclose = null;
    transport.onclose && transport.onclose({ code: event.code, reason: event.reason, opened });
  };
  return transport;
}
