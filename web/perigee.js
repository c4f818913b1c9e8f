/**
 * perigee.js — a small STOMP 1.0/1.1/1.2 client for the Perigee gateway, over WebSocket or, when
 * WebSocket does not get through, over the SockJS 0.3 fallback transports Perigee serves at the
 * same prefix. Plain ES module, no dependencies, no build step.
 *
 *   import { PerigeeClient } from "./perigee.js";
 *
 *   const client = new PerigeeClient({
 *     url: "ws://example.org/stomp",   // default: ws(s)://<page host>/stomp; http(s):// works too
 *     transports: ["websocket", "xhr-streaming", "eventsource", "xhr-polling"], // the default order
 *     versions: ["1.2", "1.1", "1.0"], // sent as accept-version
 *     host: "example.org",             // CONNECT `host` header (default: the URL's host name)
 *     connectHeaders: {login: "u", passcode: "p"},   // extra CONNECT headers
 *     heartbeat: {outgoing: 10000, incoming: 10000}, // ms; 0 disables that direction
 *     reconnect: {initialDelay: 500, maxDelay: 30000}, // or `false`: never reconnect
 *     connectTimeout: 10000,           // ms per transport, from opening it to CONNECTED
 *     onStateChange: (state, previous) => {},
 *     onError: (error) => {},          // Error; for an ERROR frame, error.frame is the frame
 *     onConnect: (connectedFrame) => {},
 *     debug: (text) => {},             // optional trace of frames and decisions
 *   });
 *
 *   client.connect();
 *   const sub = client.subscribe("/topic/shouts", (message) => {
 *     message.body;         // string (UTF-8 decoded)
 *     message.binaryBody;   // Uint8Array, the exact bytes
 *     message.headers;      // {destination, "message-id", subscription, ...} (unescaped)
 *     message.ack(); message.nack();   // for ack: "client" / "client-individual"
 *   }, {ack: "auto"});
 *   sub.id; sub.unsubscribe();
 *
 *   await client.send("/topic/shouts", "hello", {"content-type": "text/plain"});
 *   await client.send("/topic/shouts", "hello", {receipt: true}); // resolves on RECEIPT
 *   await client.disconnect();  // DISCONNECT (waits briefly for its receipt), then closes
 *
 * Properties: client.state ("connecting" | "connected" | "reconnecting" | "disconnected"),
 * client.transport (name of the transport in use while connected, else null), client.version
 * (negotiated STOMP version, or null), client.session (the server's session id, or null).
 *
 * Transports (names as in `transports`):
 * - "websocket": STOMP over a plain WebSocket at the URL (subprotocols v12/v11/v10.stomp).
 * - "xhr-streaming", "eventsource", "xhr-polling": SockJS 0.3 sessions at the same prefix over
 *   HTTP (`<prefix>/<3-digit server>/<random session>/xhr_streaming` and so on). One SockJS
 *   message carries STOMP text; what the client sends goes out as a JSON array of strings in
 *   a POST to `xhr_send`, one request at a time so that order is kept. SockJS carries text
 *   only: a binary body is sent as its UTF-8 decoding. The HTTP requests are made with
 *   `fetch` (streamed for xhr-streaming) and `EventSource`; any browser that runs ES modules
 *   has both. `options.fetch` / `options.EventSource` / `options.WebSocket` replace them.
 *
 * Behaviour:
 * - Frames are parsed incrementally from bytes: several frames in one transport message, a frame
 *   split over messages, EOL heart-beats ("\n" or "\r\n") between frames, `content-length`
 *   bodies (which may contain NUL), and header unescaping (`\n \c \\`, and `\r` in 1.2) for
 *   every frame except CONNECTED. The first occurrence of a repeated header wins.
 * - Outgoing header values are escaped for 1.1/1.2 (never in CONNECT); a SEND carries a
 *   `content-length` of its body's UTF-8 bytes.
 * - Heart-beats: negotiated as in STOMP 1.1 §Heart-beating. The client sends an EOL when it has
 *   sent nothing for the agreed period, and closes and reconnects when nothing arrives for twice
 *   the server's agreed period plus one second. (SockJS's own `h` frames are not counted.)
 * - Falling back: the transports are tried in order; one that closes, fails, or does not
 *   deliver CONNECTED within `connectTimeout` ms is given up and the next is tried at once.
 *   When every transport of the round failed, the next round waits for the backoff below.
 * - Reconnection: after a lost connection the state is "reconnecting"; attempts are spaced by
 *   an exponential backoff (initialDelay doubled per failed round, capped at maxDelay) with
 *   jitter (a random delay in [delay/2, delay]). A reconnect starts with the transport that
 *   last reached CONNECTED, then the others in `transports` order (a network that needed a
 *   fallback once most likely needs it again, and this spares it the timeouts of the
 *   transports before it); connect() after disconnect() starts again from the first one.
 *   After CONNECTED every live subscription is sent again under its same id, then frames
 *   queued while offline are flushed.
 * - send() while not connected queues the frame (bounded by `maxQueuedFrames`, default 1000).
 *   A send with a receipt whose connection is lost before the RECEIPT rejects: the server may
 *   or may not have it.
 * - Custom transports: `PerigeeClient.transports` maps a name to a factory
 *   `(url, protocols, client) => transport`. A transport has `send(data)`, `close()`, and calls
 *   its `onopen()`, `onmessage(data: string | ArrayBuffer | Uint8Array)`, `onclose({code,
 *   reason, opened})`.
 */

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const COLON = 0x3a;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");

/** WebSocket subprotocol names for each STOMP version (as registered with IANA). */
export const STOMP_SUBPROTOCOLS = { "1.2": "v12.stomp", "1.1": "v11.stomp", "1.0": "v10.stomp" };

/** Decode a 1.1/1.2 header value; `\r` is an escape only in 1.2. Unknown escapes are kept. */
export function unescapeHeader(value, version) {
  if (version === "1.0" || value.indexOf("\\") < 0) return value;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== "\\" || i + 1 >= value.length) { out += c; continue; }
    const n = value[i + 1];
    if (n === "n") out += "\n";
    else if (n === "c") out += ":";
    else if (n === "\\") out += "\\";
    else if (n === "r" && version === "1.2") out += "\r";
    else { out += c + n; }
    i++;
  }
  return out;
}

/** Encode a header name or value for 1.1/1.2. */
export function escapeHeader(value, version) {
  const text = String(value);
  if (version === "1.0") return text.replace(/[\r\n]/g, " ");
  let out = text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/:/g, "\\c");
  out = version === "1.2" ? out.replace(/\r/g, "\\r") : out.replace(/\r/g, "");
  return out;
}

function toBytes(data) {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return encoder.encode(String(data));
}

/**
 * Serialise one frame to bytes. `headers` is a plain object; a `null`/`undefined` value is
 * left out. `version` decides escaping (pass null for CONNECT / before negotiation).
 */
export function encodeFrame(command, headers, body, version) {
  const bodyBytes = body === undefined || body === null ? new Uint8Array(0) : toBytes(body);
  const escape = version && command !== "CONNECT" && command !== "STOMP";
  let head = command + "\n";
  for (const [name, value] of Object.entries(headers || {})) {
    if (value === undefined || value === null) continue;
    head += (escape ? escapeHeader(name, version) : name) + ":" +
      (escape ? escapeHeader(value, version) : String(value).replace(/[\r\n]/g, " ")) + "\n";
  }
  head += "\n";
  const headBytes = encoder.encode(head);
  const out = new Uint8Array(headBytes.length + bodyBytes.length + 1);
  out.set(headBytes, 0);
  out.set(bodyBytes, headBytes.length);
  out[out.length - 1] = NUL;
  return out;
}

/**
 * Incremental STOMP frame parser over bytes. `push(chunk)` returns the events found so far:
 * `{type: "heartbeat"}` for each EOL between frames, `{type: "frame", frame}` for each
 * complete frame. A partial frame is kept until the rest arrives. Malformed input throws.
 */
export class StompFrameParser {
  constructor({ maxFrameSize = 16 * 1024 * 1024 } = {}) {
    this.buffer = new Uint8Array(0);
    this.version = null; // set by the client once negotiated; controls unescaping
    this.maxFrameSize = maxFrameSize;
  }

  push(chunk) {
    const bytes = toBytes(chunk);
    if (this.buffer.length === 0) {
      this.buffer = bytes;
    } else {
      const joined = new Uint8Array(this.buffer.length + bytes.length);
      joined.set(this.buffer, 0);
      joined.set(bytes, this.buffer.length);
      this.buffer = joined;
    }
    const events = [];
    let pos = 0;
    for (;;) {
      const buf = this.buffer;
      // EOLs between frames are heart-beats.
      if (pos < buf.length && buf[pos] === LF) { events.push({ type: "heartbeat" }); pos++; continue; }
      if (pos + 1 < buf.length && buf[pos] === CR && buf[pos + 1] === LF) {
        events.push({ type: "heartbeat" }); pos += 2; continue;
      }
      if (pos >= buf.length) break;
      if (buf[pos] === CR) break; // a lone CR at the end: wait for its LF
      const result = this.parseFrame(buf, pos);
      if (result === null) break;
      events.push({ type: "frame", frame: result.frame });
      pos = result.next;
    }
    this.buffer = this.buffer.subarray(pos);
    if (this.buffer.length > this.maxFrameSize) throw new Error("STOMP frame larger than " + this.maxFrameSize + " bytes");
    return events;
  }

  /** Parse one frame at `start`; null when more bytes are needed. */
  parseFrame(buf, start) {
    let pos = start;
    const readLine = () => {
      const end = buf.indexOf(LF, pos);
      if (end < 0) return null;
      let stop = end;
      if (stop > pos && buf[stop - 1] === CR) stop--;
      const line = decoder.decode(buf.subarray(pos, stop));
      pos = end + 1;
      return line;
    };
    const command = readLine();
    if (command === null) return null;
    if (!/^[A-Z]+$/.test(command)) throw new Error("malformed STOMP command line: " + JSON.stringify(command.slice(0, 40)));
    const unescape = command !== "CONNECTED";
    const headers = {};
    const headerList = [];
    for (;;) {
      const line = readLine();
      if (line === null) return null;
      if (line === "") break;
      const colon = line.indexOf(":");
      if (colon < 0) throw new Error("malformed STOMP header line: " + JSON.stringify(line.slice(0, 40)));
      const name = unescape ? unescapeHeader(line.slice(0, colon), this.version) : line.slice(0, colon);
      const value = unescape ? unescapeHeader(line.slice(colon + 1), this.version) : line.slice(colon + 1);
      headerList.push([name, value]);
      if (!(name in headers)) headers[name] = value;
    }
    let body;
    if (headers["content-length"] !== undefined && headers["content-length"] !== "") {
      const length = Number(headers["content-length"]);
      if (!Number.isInteger(length) || length < 0) throw new Error("bad content-length: " + headers["content-length"]);
      if (length > this.maxFrameSize) throw new Error("STOMP frame larger than " + this.maxFrameSize + " bytes");
      if (pos + length + 1 > buf.length) return null;
      if (buf[pos + length] !== NUL) throw new Error("STOMP frame body not followed by NUL");
      body = buf.slice(pos, pos + length);
      pos += length + 1;
    } else {
      const end = buf.indexOf(NUL, pos);
      if (end < 0) return null;
      body = buf.slice(pos, end);
      pos = end + 1;
    }
    return { frame: { command, headers, headerList, binaryBody: body, get body() { return decoder.decode(body); } }, next: pos };
  }
}

/** The built-in WebSocket transport. */
function webSocketTransport(url, protocols, client) {
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

function defaultUrl() {
  const loc = globalThis.location;
  if (!loc) return "ws://127.0.0.1:9000/stomp";
  return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/stomp";
}

/** The URL with an http(s) scheme turned into ws(s); others are kept. */
function webSocketUrl(url) { return String(url).replace(/^http(s?):/i, "ws$1:"); }

/** The URL with a ws(s) scheme turned into http(s), without a trailing slash. */
function httpUrl(url) { return String(url).replace(/^ws(s?):/i, "http$1:").replace(/\/+$/, ""); }

/** A SockJS session id: random letters and digits (the server treats it as opaque). */
function randomSessionId() {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = new Uint8Array(16);
  if (globalThis.crypto && globalThis.crypto.getRandomValues) globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let id = "";
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return id;
}

/**
 * One SockJS 0.3 session over HTTP: `kind` is "xhr-streaming", "eventsource" or "xhr-polling".
 * The receiving side turns the frames `o` (open), `h` (heart-beat), `a[...]` (messages) and
 * `c[code, reason]` (close) into the transport callbacks; sending batches whatever was queued
 * while the previous `xhr_send` was in flight into one JSON array of strings.
 */
class SockJSTransport {
  constructor(kind, url, client) {
    this.name = kind;
    this.onopen = this.onmessage = this.onclose = null;
    const server = String(Math.floor(Math.random() * 1000)).padStart(3, "0");
    this.base = httpUrl(url) + "/" + server + "/" + randomSessionId();
    const fetchImpl = client.options.fetch || globalThis.fetch;
    if (!fetchImpl) throw new Error("no fetch implementation available");
    this.fetch = (...args) => fetchImpl.apply(globalThis, args);
    this.EventSource = client.options.EventSource || globalThis.EventSource;
    this.log = (text) => client._log(kind + ": " + text);
    this.opened = false;
    this.closed = false;
    this.outbox = [];
    this.sending = false;
    this.receiving = null; // AbortController of the receiving request, or the EventSource
    if (kind === "xhr-streaming") this._stream();
    else if (kind === "xhr-polling") this._poll();
    else if (kind === "eventsource") this._eventSource();
    else throw new Error("unknown SockJS transport: " + kind);
  }

  send(data) {
    if (this.closed) throw new Error("the " + this.name + " session is closed");
    this.outbox.push(typeof data === "string" ? data : decoder.decode(toBytes(data)));
    if (!this.sending) this._flush();
  }

  /** Stop receiving. SockJS has no close message from the client: the server's session
   *  expires once nobody polls it. Sends already under way are let through. */
  close() {
    if (this.closed) return;
    this.closed = true;
    this._stopReceiving();
  }

  _stopReceiving() {
    const r = this.receiving;
    this.receiving = null;
    if (r) { try { r.close ? r.close() : r.abort(); } catch (_) { /* already done */ } }
  }

  /** The session is over: report it once. */
  _finish(code, reason) {
    if (this.closed) return;
    this.log("closed " + code + " " + reason);
    this.close();
    if (this.onclose) this.onclose({ code, reason, opened: this.opened });
  }

  /** Handle one SockJS frame (the text of one line, poll response or event). */
  _frame(text) {
    if (this.closed) return;
    const type = text[0];
    if (type === "o") {
      if (!this.opened) { this.opened = true; if (this.onopen) this.onopen(); }
    } else if (type === "h") {
      // SockJS heart-beat: the request is alive; nothing for STOMP.
    } else if (type === "a" || type === "c") {
      let payload;
      try { payload = JSON.parse(text.slice(1)); } catch (_) { payload = null; }
      if (!Array.isArray(payload)) { this._finish(1002, "malformed SockJS frame: " + text.slice(0, 40)); return; }
      if (type === "c") { this._finish(Number(payload[0]) || 1006, String(payload[1] || "")); return; }
      for (const message of payload) {
        if (this.closed) return;
        if (this.onmessage) this.onmessage(String(message));
      }
    } else if (text !== "") {
      this._finish(1002, "unexpected SockJS frame: " + text.slice(0, 40));
    }
  }

  /** A POST to `<session>/<path>`; resolves with the Response or rejects. */
  _post(path, body, signal) {
    const init = { method: "POST", credentials: "include", cache: "no-store", signal };
    // text/plain keeps a cross-origin request "simple" (no preflight), as SockJS expects.
    if (body !== undefined) { init.body = body; init.headers = { "Content-Type": "text/plain;charset=UTF-8" }; }
    return this.fetch(this.base + "/" + path, init);
  }

  async _flush() {
    this.sending = true;
    try {
      while (this.outbox.length > 0 && !this.closed) {
        const batch = this.outbox.splice(0);
        const response = await this._post("xhr_send", JSON.stringify(batch));
        await response.arrayBuffer().catch(() => null);
        if (response.status !== 204 && response.status !== 200) {
          throw new Error("xhr_send answered HTTP " + response.status);
        }
      }
    } catch (error) {
      this._finish(1006, error.message);
    } finally {
      this.sending = false;
    }
  }

  /** xhr-streaming: newline-separated frames after a 2 KiB `h` prelude; the server ends a
   *  response after its byte limit, and the next request resumes the same session. */
  async _stream() {
    try {
      while (!this.closed) {
        const controller = new AbortController();
        this.receiving = controller;
        const response = await this._post("xhr_streaming", undefined, controller.signal);
        if (response.status !== 200) throw new Error("xhr_streaming answered HTTP " + response.status);
        if (!response.body || !response.body.getReader) throw new Error("no streamed response bodies");
        const reader = response.body.getReader();
        const textDecoder = new TextDecoder("utf-8");
        let buffer = "";
        let first = true;
        let frames = 0;
        for (;;) {
          const { value, done } = await reader.read();
          if (done || this.closed) break;
          buffer += textDecoder.decode(value, { stream: true });
          let newline;
          while ((newline = buffer.indexOf("\n")) >= 0 && !this.closed) {
            const line = buffer.slice(0, newline);
            buffer = buffer.slice(newline + 1);
            if (first) { first = false; if (/^h+$/.test(line)) continue; } // the prelude
            frames++;
            this._frame(line);
          }
        }
        if (this.closed) return;
        // A response that ends having carried no frame means the server is not serving us.
        if (frames === 0) throw new Error("xhr_streaming response ended without a frame");
        this.log("response ended after " + frames + " frames; reopening");
      }
    } catch (error) {
      if (!this.closed) this._finish(1006, error.message);
    }
  }

  /** xhr-polling: one POST to `xhr` at a time, each answered with one frame. */
  async _poll() {
    try {
      while (!this.closed) {
        const controller = new AbortController();
        this.receiving = controller;
        const response = await this._post("xhr", undefined, controller.signal);
        const text = await response.text();
        if (this.closed) return;
        if (response.status !== 200) throw new Error("xhr answered HTTP " + response.status);
        const lines = text.split("\n").filter((line) => line !== "");
        if (lines.length === 0) throw new Error("empty xhr poll response");
        for (const line of lines) this._frame(line);
      }
    } catch (error) {
      if (!this.closed) this._finish(1006, error.message);
    }
  }

  /** eventsource: each `data:` event is a frame. When the server ends the response the
   *  browser would retry after its own delay; a new EventSource resumes at once instead. */
  _eventSource() {
    const ES = this.EventSource;
    if (!ES) throw new Error("no EventSource implementation available");
    const open = () => {
      let frames = 0;
      const source = new ES(this.base + "/eventsource", { withCredentials: true });
      this.receiving = source;
      source.onmessage = (event) => { frames++; this._frame(String(event.data)); };
      source.onerror = () => {
        source.close();
        if (this.closed || this.receiving !== source) return;
        if (frames === 0) { this._finish(1006, "eventsource request failed"); return; }
        this.log("response ended after " + frames + " frames; reopening");
        open();
      };
    };
    open();
  }
}

function sockJSTransport(kind) {
  return (url, protocols, client) => new SockJSTransport(kind, url, client);
}

const STATES = ["connecting", "connected", "reconnecting", "disconnected"];

export class PerigeeClient {
  constructor(options = {}) {
    const heartbeat = options.heartbeat || {};
    const reconnect = options.reconnect === false ? null : (options.reconnect || {});
    this.options = {
      url: options.url || defaultUrl(),
      transports: options.transports && options.transports.length > 0
        ? [...options.transports] : ["websocket", "xhr-streaming", "eventsource", "xhr-polling"],
      versions: options.versions || ["1.2", "1.1", "1.0"],
      host: options.host,
      connectHeaders: options.connectHeaders || {},
      heartbeat: {
        outgoing: heartbeat.outgoing === undefined ? 10000 : heartbeat.outgoing,
        incoming: heartbeat.incoming === undefined ? 10000 : heartbeat.incoming,
      },
      reconnect: reconnect && {
        initialDelay: reconnect.initialDelay === undefined ? 500 : reconnect.initialDelay,
        maxDelay: reconnect.maxDelay === undefined ? 30000 : reconnect.maxDelay,
      },
      connectTimeout: options.connectTimeout || 10000,
      maxQueuedFrames: options.maxQueuedFrames || 1000,
      WebSocket: options.WebSocket,
      fetch: options.fetch,
      EventSource: options.EventSource,
    };
    this.onStateChange = options.onStateChange || null;
    this.onError = options.onError || null;
    this.onConnect = options.onConnect || null;
    this.debug = options.debug || null;

    this.state = "disconnected";
    this.transport = null;
    this.version = null;
    this.session = null;
    this.server = null;

    this._conn = null;          // the current attempt: {transport, parser, connected, timers...}
    this._subscriptions = new Map(); // id -> {id, destination, callback, headers}
    this._queue = [];           // frames waiting for a connection: {command, headers, body, pending}
    this._receipts = new Map(); // receipt id -> {resolve, reject}
    this._nextSubscription = 1;
    this._nextReceipt = 1;
    this._attempt = 0;
    this._round = [];           // transport names of the current round, in the order tried
    this._roundIndex = 0;       // position in _round of the current attempt
    this._lastWorking = null;   // the transport that last reached CONNECTED
    this._reconnectTimer = null;
    this._wanted = false;       // true between connect() and disconnect()
  }

  /** The transports the client knows; add a factory here to offer a new one. */
  static transports = {
    websocket: webSocketTransport,
    "xhr-streaming": sockJSTransport("xhr-streaming"),
    eventsource: sockJSTransport("eventsource"),
    "xhr-polling": sockJSTransport("xhr-polling"),
  };

  /** Open the connection (no-op if already connecting or connected). */
  connect() {
    if (this._wanted) return;
    this._wanted = true;
    this._attempt = 0;
    this._lastWorking = null;
    this._startRound();
    this._setState("connecting");
    this._open();
  }

  /**
   * Subscribe to `destination`; `callback(message)` is called for each MESSAGE. Extra headers
   * (e.g. `ack`, `selector`) are sent with the SUBSCRIBE, on every (re)connection.
   */
  subscribe(destination, callback, headers = {}) {
    const id = headers.id !== undefined ? String(headers.id) : "sub-" + this._nextSubscription++;
    const sub = { id, destination, callback, headers: { ...headers } };
    delete sub.headers.id;
    this._subscriptions.set(id, sub);
    if (this.state === "connected") this._sendSubscribe(sub);
    return {
      id,
      unsubscribe: (extra = {}) => {
        if (!this._subscriptions.delete(id)) return;
        if (this.state === "connected") this._transmit("UNSUBSCRIBE", { ...extra, id }, null);
      },
    };
  }

  /**
   * SEND `body` (string or bytes) to `destination`. With `headers.receipt === true` (a receipt
   * id is generated) or a string `headers.receipt`, the promise resolves with the RECEIPT frame;
   * otherwise it resolves once the frame is handed to the transport.
   */
  send(destination, body = "", headers = {}) {
    const h = { ...headers, destination };
    return this._frameWithReceipt("SEND", h, body);
  }

  /** Transactions: begin/commit/abort; pass `{transaction: id}` in send/ack headers. */
  begin(transaction, headers = {}) { return this._frameWithReceipt("BEGIN", { ...headers, transaction }, null); }
  commit(transaction, headers = {}) { return this._frameWithReceipt("COMMIT", { ...headers, transaction }, null); }
  abort(transaction, headers = {}) { return this._frameWithReceipt("ABORT", { ...headers, transaction }, null); }

  /**
   * Close for good: DISCONNECT with a receipt (waits up to `timeout` ms for it), then close
   * the transport. No reconnection follows. Resolves when done.
   */
  disconnect({ timeout = 1000 } = {}) {
    this._wanted = false;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    const conn = this._conn;
    const finish = () => {
      if (this._conn === conn) this._teardown(new Error("disconnected by the client"));
      this._queue.splice(0).forEach((f) => f.pending && f.pending.reject(new Error("disconnected by the client")));
      this._setState("disconnected");
    };
    if (!conn || !conn.connected) { finish(); return Promise.resolve(); }
    const id = "disconnect-" + this._nextReceipt++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this._receipts.delete(id); finish(); resolve(); }, timeout);
      this._receipts.set(id, {
        resolve: () => { clearTimeout(timer); finish(); resolve(); },
        reject: () => { clearTimeout(timer); finish(); resolve(); },
      });
      this._write(conn, "DISCONNECT", { receipt: id }, null);
    });
  }

  // ---------------------------------------------------------------- internals

  _log(text) { if (this.debug) this.debug(text); }

  _setState(state) {
    if (!STATES.includes(state) || state === this.state) return;
    const previous = this.state;
    this.state = state;
    this._log("state " + previous + " -> " + state);
    if (this.onStateChange) this.onStateChange(state, previous);
  }

  _error(error) {
    this._log("error: " + error.message);
    if (this.onError) this.onError(error);
  }

  _frameWithReceipt(command, headers, body) {
    let pending = null;
    const promise = new Promise((resolve, reject) => { pending = { resolve, reject }; });
    if (headers.receipt === true) headers.receipt = "rcpt-" + this._nextReceipt++;
    else if (headers.receipt === false || headers.receipt === undefined) delete headers.receipt;
    if (this._queue.length >= this.options.maxQueuedFrames) {
      pending.reject(new Error("send queue is full (" + this.options.maxQueuedFrames + " frames)"));
      return promise;
    }
    this._queue.push({ command, headers, body, pending });
    if (this.state === "connected") this._flushQueue(this._conn);
    return promise;
  }

  /** Send queued frames in order while `conn` stays the live, connected attempt. */
  _flushQueue(conn) {
    while (this._queue.length > 0 && this._conn === conn && conn.connected) {
      this._sendQueued(this._queue.shift());
    }
  }

  _sendQueued(frame) {
    const receipt = frame.headers.receipt;
    if (receipt !== undefined) this._receipts.set(String(receipt), frame.pending);
    try {
      this._transmit(frame.command, frame.headers, frame.body);
    } catch (error) {
      if (receipt !== undefined) this._receipts.delete(String(receipt));
      frame.pending.reject(error);
      return;
    }
    if (receipt === undefined) frame.pending.resolve();
  }

  /** A new round of attempts: the last transport that worked first, then the others in order. */
  _startRound() {
    const names = this.options.transports;
    const last = this._lastWorking;
    this._round = last && names.includes(last) ? [last, ...names.filter((n) => n !== last)] : [...names];
    this._roundIndex = 0;
  }

  _open() {
    const name = this._round[this._roundIndex];
    const factory = PerigeeClient.transports[name];
    const protocols = this.options.versions.map((v) => STOMP_SUBPROTOCOLS[v]).filter(Boolean);
    const conn = {
      name, transport: null, parser: new StompFrameParser(), opened: false, connected: false,
      lastReceived: Date.now(), lastSent: Date.now(), timers: [],
    };
    this._conn = conn;
    this._log("opening " + name + " " + this.options.url);
    if (!factory) {
      this._error(new Error("unknown transport: " + name));
      this._lost(conn, false);
      return;
    }
    let transport;
    try {
      transport = factory(this.options.url, protocols, this);
    } catch (error) {
      this._error(error);
      this._lost(conn, false);
      return;
    }
    conn.transport = transport;
    transport.onopen = () => {
      if (this._conn !== conn) return;
      conn.opened = true;
      this._write(conn, "CONNECT", this._connectHeaders(), null);
    };
    transport.onmessage = (data) => { if (this._conn === conn) this._receive(conn, data); };
    transport.onclose = (info) => {
      if (this._conn !== conn) return;
      this._log("transport closed: code " + info.code + (info.reason ? " " + info.reason : ""));
      this._lost(conn, info.opened);
    };
    // No CONNECTED in time: give up on this attempt.
    conn.timers.push(setTimeout(() => {
      if (this._conn === conn && !conn.connected) {
        this._error(new Error("no CONNECTED within " + this.options.connectTimeout + " ms"));
        this._teardown(null);
        this._lost(conn, conn.opened);
      }
    }, this.options.connectTimeout));
  }

  _connectHeaders() {
    let host = this.options.host;
    if (!host) {
      try { host = new URL(this.options.url).hostname; } catch (_) { host = "localhost"; }
    }
    const hb = this.options.heartbeat;
    return {
      "accept-version": this.options.versions.join(","),
      host,
      "heart-beat": (hb.outgoing | 0) + "," + (hb.incoming | 0),
      ...this.options.connectHeaders,
    };
  }

  _write(conn, command, headers, body) {
    const version = conn.connected ? this.version : null;
    const bytes = encodeFrame(command, headers, body, version);
    this._log(">>> " + command + " " + JSON.stringify(headers));
    // Text messages for UTF-8 frames (what browsers and the server expect); binary otherwise.
    const isText = body === null || body === undefined || typeof body === "string";
    conn.transport.send(isText ? decoder.decode(bytes) : bytes);
    conn.lastSent = Date.now();
  }

  _transmit(command, headers, body) {
    const conn = this._conn;
    if (!conn || !conn.connected) throw new Error("not connected");
    const h = { ...headers };
    if (command === "SEND" && body !== null && body !== undefined) h["content-length"] = toBytes(body).length;
    this._write(conn, command, h, body);
  }

  _sendSubscribe(sub) {
    this._transmit("SUBSCRIBE", { ...sub.headers, id: sub.id, destination: sub.destination }, null);
  }

  _receive(conn, data) {
    conn.lastReceived = Date.now();
    let events;
    try {
      events = conn.parser.push(data);
    } catch (error) {
      this._error(error);
      this._teardown(null);
      this._lost(conn, true);
      return;
    }
    for (const event of events) {
      if (this._conn !== conn) return;
      if (event.type === "heartbeat") continue;
      this._handleFrame(conn, event.frame);
    }
  }

  _handleFrame(conn, frame) {
    this._log("<<< " + frame.command + " " + JSON.stringify(frame.headers));
    switch (frame.command) {
      case "CONNECTED": return this._connected(conn, frame);
      case "MESSAGE": return this._message(frame);
      case "RECEIPT": {
        const id = frame.headers["receipt-id"];
        const pending = this._receipts.get(id);
        if (pending) { this._receipts.delete(id); pending.resolve(frame); }
        return;
      }
      case "ERROR": {
        const error = new Error("STOMP ERROR: " + (frame.headers.message || frame.body || "unknown"));
        error.frame = frame;
        const id = frame.headers["receipt-id"];
        const pending = id !== undefined && this._receipts.get(id);
        if (pending) { this._receipts.delete(id); pending.reject(error); }
        this._error(error);
        return; // the server closes the connection after an ERROR; onclose reconnects
      }
      default:
        this._error(new Error("unexpected frame from server: " + frame.command));
    }
  }

  _connected(conn, frame) {
    if (conn.connected) return;
    conn.connected = true;
    this.version = frame.headers.version || "1.0";
    conn.parser.version = this.version;
    this.session = frame.headers.session || null;
    this.server = frame.headers.server || null;
    this.transport = conn.name;
    this._lastWorking = conn.name;
    this._attempt = 0;
    this._setupHeartbeat(conn, frame.headers["heart-beat"]);
    this._setState("connected");
    try {
      for (const sub of this._subscriptions.values()) this._sendSubscribe(sub);
      this._flushQueue(conn);
    } catch (error) {
      this._error(error);
    }
    if (this.onConnect) this.onConnect(frame);
  }

  _setupHeartbeat(conn, header) {
    const [sx, sy] = (header || "0,0").split(",").map((v) => parseInt(v, 10) || 0);
    const { outgoing, incoming } = this.options.heartbeat;
    // STOMP §Heart-beating: each side uses the larger of what one can do and the other wants.
    const sendEvery = outgoing > 0 && sy > 0 ? Math.max(outgoing, sy) : 0;
    const expectEvery = incoming > 0 && sx > 0 ? Math.max(incoming, sx) : 0;
    if (sendEvery > 0) {
      conn.timers.push(setInterval(() => {
        if (this._conn !== conn) return;
        if (Date.now() - conn.lastSent >= sendEvery * 0.9) {
          try { conn.transport.send("\n"); conn.lastSent = Date.now(); } catch (_) { /* onclose follows */ }
        }
      }, Math.max(100, Math.floor(sendEvery / 2))));
    }
    if (expectEvery > 0) {
      conn.timers.push(setInterval(() => {
        if (this._conn !== conn) return;
        const silent = Date.now() - conn.lastReceived;
        // Twice the interval, plus a second for latency and timer drift on either side.
        if (silent > expectEvery * 2 + 1000) {
          this._error(new Error("server silent for " + silent + " ms (heart-beat " + expectEvery + " ms)"));
          this._teardown(null);
          this._lost(conn, true);
        }
      }, Math.max(100, Math.floor(expectEvery / 2))));
    }
  }

  _message(frame) {
    const sub = this._subscriptions.get(frame.headers.subscription);
    if (!sub) return; // a late MESSAGE for a subscription already cancelled
    const version = this.version;
    const ackHeaders = () => {
      if (version === "1.2") return { id: frame.headers.ack };
      if (version === "1.1") return { "message-id": frame.headers["message-id"], subscription: sub.id };
      return { "message-id": frame.headers["message-id"] };
    };
    const message = {
      command: frame.command,
      headers: frame.headers,
      binaryBody: frame.binaryBody,
      get body() { return frame.body; },
      ack: (headers = {}) => this._frameWithReceipt("ACK", { ...headers, ...ackHeaders() }, null),
      nack: (headers = {}) => this._frameWithReceipt("NACK", { ...headers, ...ackHeaders() }, null),
    };
    try {
      sub.callback(message);
    } catch (error) {
      this._error(error);
    }
  }

  /** Stop timers and close the transport of the current attempt. */
  _teardown(reason) {
    const conn = this._conn;
    if (!conn) return;
    conn.timers.forEach((t) => { clearTimeout(t); clearInterval(t); });
    conn.timers = [];
    if (conn.transport) {
      conn.transport.onopen = conn.transport.onmessage = conn.transport.onclose = null;
      try { conn.transport.close(); } catch (_) { /* already closed */ }
    }
    this._conn = null;
    this.transport = null;
    this._rejectReceipts(reason || new Error("connection lost before the receipt arrived"));
  }

  _rejectReceipts(error) {
    const pending = [...this._receipts.values()];
    this._receipts.clear();
    pending.forEach((p) => p.reject(error));
  }

  /**
   * The attempt `conn` is over; schedule the next one unless the user disconnected. An attempt
   * that never reached CONNECTED hands over to the next transport of the round at once; after
   * a lost connection or a round where every transport failed, a new round starts after the
   * backoff delay.
   */
  _lost(conn, opened) {
    if (this._conn === conn) this._teardown(null);
    const wasConnected = conn.connected;
    this.version = null;
    this.session = null;
    if (!this._wanted) { this._setState("disconnected"); return; }
    const reconnect = this.options.reconnect;
    const tryNextNow = !wasConnected && this._roundIndex + 1 < this._round.length;
    if (!tryNextNow && !reconnect) { this._wanted = false; this._setState("disconnected"); return; }
    this._setState(this.state === "connecting" && !wasConnected ? "connecting" : "reconnecting");
    let delay = 0;
    if (tryNextNow) {
      this._log(conn.name + " failed" + (opened ? " after opening" : "") + "; trying " + this._round[this._roundIndex + 1]);
      this._roundIndex++;
    } else {
      const base = Math.min(reconnect.maxDelay, reconnect.initialDelay * Math.pow(2, this._attempt));
      delay = base / 2 + Math.random() * (base / 2);
      this._attempt++;
      this._startRound();
      this._log("reconnecting in " + Math.round(delay) + " ms, trying " + this._round.join(", "));
    }
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = setTimeout(() => {
      this._reconnectTimer = null;
      if (this._wanted && !this._conn) {
        if (this.state !== "connecting") this._setState("reconnecting");
        this._open();
      }
    }, delay);
  }
}

export default PerigeeClient;
