/**
 * PerigeeClient: a STOMP session kept alive over whichever transport gets through, with
 * subscriptions, receipts, heart-beats, a send queue while offline, and the reconnect policy.
 * The public API and its behaviour are described in ../perigee.js, the entry point.
 */
import { STOMP_SUBPROTOCOLS, StompFrameParser, encodeFrame, toBytes, toText } from "./stomp-codec.js";
import { webSocketTransport } from "./websocket-transport.js";
import { sockJSTransport } from "./sockjs-transports.js";
import { ReconnectPolicy } from "./reconnect-policy.js";
import { HEADERS, formatPosition, isAhead, parsePosition, positionOf } from "./positions.js";

/** Real time: the timers of the page (or of node). `options.clock` replaces it (tests). */
const systemClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle),
};

function defaultUrl() {
  const loc = globalThis.location;
  if (!loc) return "ws://127.0.0.1:9000/stomp";
  return (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/stomp";
}

const STATES = ["connecting", "connected", "reconnecting", "disconnected"];

/** Headers for the debug trace: credentials (a token, a passcode) are not written out. */
function redacted(headers) {
  const out = { ...headers };
  for (const name of Object.keys(out)) {
    const lower = name.toLowerCase();
    if (lower === "authorization" || lower === "passcode") out[name] = "(redacted)";
  }
  return out;
}

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
        resetAfter: reconnect.resetAfter === undefined ? 5000 : reconnect.resetAfter,
      },
      connectTimeout: options.connectTimeout || 10000,
      maxQueuedFrames: options.maxQueuedFrames || 1000,
      token: options.token,
      WebSocket: options.WebSocket,
      fetch: options.fetch,
      EventSource: options.EventSource,
    };
    // Every timer and every reading of the time goes through this clock.
    this._clock = options.clock || systemClock;
    this.onStateChange = options.onStateChange || null;
    this.onError = options.onError || null;
    this.onConnect = options.onConnect || null;
    this.onRecovery = options.onRecovery || null;
    this.debug = options.debug || null;

    this.state = "disconnected";
    this.transport = null;
    this.version = null;
    this.session = null;
    this.server = null;

    this._conn = null;          // the current attempt: {transport, parser, connected, timers...}
    this._subscriptions = new Map(); // id -> {id, destination, callback, headers, position, ...}: see subscribe
    this._queue = [];           // frames waiting for a connection: {command, headers, body, pending}
    this._receipts = new Map(); // receipt id -> {resolve, reject}
    this._nextSubscription = 1;
    this._nextReceipt = 1;
    this._policy = new ReconnectPolicy(this.options.transports, this.options.reconnect);
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
    this._policy.begin();
    this._setState("connecting");
    this._open();
  }

  /**
   * Subscribe to `destination`; `callback(message)` is called for each MESSAGE. Extra headers
   * (e.g. `ack`, `selector`) are sent with the SUBSCRIBE, on every (re)connection; the client
   * sets the SUBSCRIBE's `receipt` itself. Options:
   * - `onError(error)`: the server refused the subscription (see _serverError); a refused
   *   subscription is not sent again;
   * - `history: k` (or a `perigee-history` header): `perigee-history:k` on every SUBSCRIBE
   *   (k a whole number; anything else throws a TypeError here);
   * - `presence: true`: `perigee-presence:true` (join/leave events reach `callback`);
   * - `onRecovery(subscription, recovered, receipt)`: the answer to a resume;
   * - `onSubscribed(subscription, receipt)`: the server confirmed a SUBSCRIBE (each time).
   * A `perigee-since` header is the position to resume from on the first SUBSCRIBE; after
   * that the client sends the position it remembers (see the positions in ../perigee.js).
   * Returns `{id, destination, position, refused, unsubscribe(extraHeaders)}`: `position` is
   * the last `{epoch, offset}` the subscription saw, or null; `refused` the error that refused
   * it, or null.
   */
  subscribe(destination, callback, headers = {}, options = {}) {
    const id = headers.id !== undefined ? String(headers.id) : "sub-" + this._nextSubscription++;
    const sub = {
      id, destination, callback, headers: { ...headers }, onError: options.onError || null, refused: null,
      onRecovery: options.onRecovery || null, onSubscribed: options.onSubscribed || null,
      position: null, // the last {epoch, offset} seen (MESSAGE, or a RECEIPT's head)
      since: null,    // a perigee-since given by the application, until the server answered it
      history: null,
      handle: null,
    };
    for (const name of ["id", "receipt", HEADERS.since, HEADERS.history]) delete sub.headers[name];
    const history = options.history !== undefined ? options.history : headers[HEADERS.history];
    if (history !== undefined && history !== null && history !== false) {
      // The server ends the session on a count that is not a decimal number, and the client
      // would send it again on every reconnect: refuse it here, once.
      const text = String(history);
      if (!/^[0-9]+$/.test(text)) throw new TypeError("history must be a whole number of messages, not " + text);
      sub.history = text;
    }
    if (options.presence) sub.headers[HEADERS.presence] = "true";
    if (headers[HEADERS.since] !== undefined && headers[HEADERS.since] !== null) {
      sub.since = String(headers[HEADERS.since]);
      sub.position = parsePosition(sub.since);
    }
    this._subscriptions.set(id, sub);
    sub.handle = {
      id,
      destination,
      get position() { return sub.position && { ...sub.position }; },
      get refused() { return sub.refused; },
      unsubscribe: (extra = {}) => {
        if (this._subscriptions.get(id) !== sub) return;
        this._subscriptions.delete(id);
        if (this.state === "connected") this._transmit("UNSUBSCRIBE", { ...extra, id }, null);
      },
    };
    if (this.state === "connected") this._sendSubscribe(sub);
    return sub.handle;
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
   * the transport. No reconnection follows. Resolves when done. With `timeout: 0` the
   * transport is closed before disconnect() returns (a `pagehide` handler: the page may be
   * frozen before any timer runs). Subscriptions and their positions are kept: connect()
   * subscribes again and resumes.
   */
  disconnect({ timeout = 1000 } = {}) {
    this._wanted = false;
    this._clock.clearTimeout(this._reconnectTimer);
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
      const timer = this._clock.setTimeout(() => { this._receipts.delete(id); finish(); resolve(); }, timeout);
      this._receipts.set(id, {
        resolve: () => { this._clock.clearTimeout(timer); finish(); resolve(); },
        reject: () => { this._clock.clearTimeout(timer); finish(); resolve(); },
      });
      this._write(conn, "DISCONNECT", { receipt: id }, null);
      if (timeout <= 0) { this._receipts.delete(id); this._clock.clearTimeout(timer); finish(); resolve(); }
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

  /**
   * Start the next attempt: get the token (the `token` option), then open the transport the
   * reconnect policy names. Every attempt asks for the token afresh, fallbacks included, so a
   * token function can hand out short-lived tokens.
   */
  _open() {
    const conn = {
      name: this._policy.current, transport: null, parser: new StompFrameParser(), opened: false,
      connected: false,
      token: null,                // the token this attempt's CONNECT carries, or null
      answeredWithError: false,   // the server sent an ERROR on this connection
      goingAway: false,           // the server said it is shutting down (a drain)
      tokenFailed: false,         // the token function threw, rejected or did not settle
      // receipt id of a SUBSCRIBE sent on it -> {sub, since}: its subscription, and the
      // perigee-since it carried (or null)
      subscribeReceipts: new Map(),
      lastReceived: this._clock.now(), lastSent: this._clock.now(), timers: [],
    };
    this._conn = conn;
    const token = this.options.token;
    if (typeof token !== "function") { this._openTransport(conn, token); return; }
    let value;
    try {
      value = token();
    } catch (error) {
      this._tokenFailed(conn, error);
      return;
    }
    // A plain value goes on at once; only a promise (or any thenable) is waited for, and for
    // no longer than connectTimeout: a token service that hangs must not stall the client.
    if (!value || typeof value.then !== "function") { this._openTransport(conn, value); return; }
    this._log("waiting for the token function");
    let settled = false;
    const timer = this._clock.setTimeout(() => {
      if (settled || this._conn !== conn) return;
      settled = true;
      this._tokenFailed(conn, new Error("no token within " + this.options.connectTimeout + " ms"));
    }, this.options.connectTimeout);
    conn.timers.push(timer);
    Promise.resolve(value).then((resolved) => {
      if (settled || this._conn !== conn) return;
      settled = true;
      this._clock.clearTimeout(timer);
      conn.timers = conn.timers.filter((t) => t !== timer);
      this._openTransport(conn, resolved);
    }, (error) => {
      if (settled || this._conn !== conn) return;
      settled = true;
      this._tokenFailed(conn, error);
    });
  }

  /**
   * The token function failed: report it and end the round with a backoff, as an ERROR
   * answering CONNECT does (another transport would get no better token); the next attempt
   * calls the function again.
   */
  _tokenFailed(conn, cause) {
    const reason = cause && cause.message !== undefined ? cause.message : String(cause);
    const error = new Error("the token function failed: " + reason);
    error.cause = cause;
    conn.tokenFailed = true;
    this._error(error);
    if (this._conn === conn) this._lost(conn, false);
  }

  _openTransport(conn, token) {
    // null, undefined or "" (also after trimming: a token read from a response often ends in
    // a newline) means no token: CONNECT without an Authorization header.
    const text = token === null || token === undefined ? "" : String(token).trim();
    conn.token = text === "" ? null : text;
    const name = conn.name;
    const factory = PerigeeClient.transports[name];
    const protocols = this.options.versions.map((v) => STOMP_SUBPROTOCOLS[v]).filter(Boolean);
    this._log("opening " + name + " " + this.options.url + (conn.token ? " with a token" : ""));
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
      this._write(conn, "CONNECT", this._connectHeaders(conn.token), null);
    };
    transport.onmessage = (data) => { if (this._conn === conn) this._receive(conn, data); };
    transport.onclose = (info) => {
      if (this._conn !== conn) return;
      this._log("transport closed: code " + info.code + (info.reason ? " " + info.reason : ""));
      // RFC 6455 1001 "going away"; SockJS's server close c[3000,"Go away!"]: a drain.
      if (info.code === 1001 || (info.code === 3000 && info.reason === "Go away!")) conn.goingAway = true;
      this._lost(conn, info.opened);
    };
    // No CONNECTED in time: give up on this attempt.
    conn.timers.push(this._clock.setTimeout(() => {
      if (this._conn === conn && !conn.connected) {
        this._error(new Error("no CONNECTED within " + this.options.connectTimeout + " ms"));
        this._teardown(null);
        this._lost(conn, conn.opened);
      }
    }, this.options.connectTimeout));
  }

  /**
   * The CONNECT headers. With a token, `Authorization: Bearer <token>` (replacing any
   * Authorization among connectHeaders, whatever its case); CONNECT values are never escaped,
   * and encodeFrame turns a CR or LF in one into a space, so a token cannot add a header.
   */
  _connectHeaders(token = null) {
    let host = this.options.host;
    if (!host) {
      try { host = new URL(this.options.url).hostname; } catch (_) { host = "localhost"; }
    }
    const hb = this.options.heartbeat;
    const headers = {
      "accept-version": this.options.versions.join(","),
      host,
      "heart-beat": (hb.outgoing | 0) + "," + (hb.incoming | 0),
      ...this.options.connectHeaders,
    };
    if (token) {
      for (const name of Object.keys(headers)) if (name.toLowerCase() === "authorization") delete headers[name];
      headers.Authorization = "Bearer " + token;
    }
    return headers;
  }

  _write(conn, command, headers, body) {
    const version = conn.connected ? this.version : null;
    const bytes = encodeFrame(command, headers, body, version);
    if (this.debug) this._log(">>> " + command + " " + JSON.stringify(redacted(headers)));
    // Text messages for UTF-8 frames (what browsers and the server expect); binary otherwise.
    const isText = body === null || body === undefined || typeof body === "string";
    conn.transport.send(isText ? toText(bytes) : bytes);
    conn.lastSent = this._clock.now();
  }

  _transmit(command, headers, body) {
    const conn = this._conn;
    if (!conn || !conn.connected) throw new Error("not connected");
    const h = { ...headers };
    if (command === "SEND" && body !== null && body !== undefined) h["content-length"] = toBytes(body).length;
    this._write(conn, command, h, body);
  }

  /**
   * SUBSCRIBE with a receipt of its own, so that an ERROR answering it names it by
   * `receipt-id`: that is how the client knows exactly which subscription the server refused.
   * A subscription that knows a position resumes from it (`perigee-since`); one given a
   * `perigee-since` by the application that the server has not answered yet sends that.
   */
  _sendSubscribe(sub) {
    const receipt = "subscribe-" + this._nextReceipt++;
    const headers = { ...sub.headers, id: sub.id, destination: sub.destination, receipt };
    const since = sub.position ? formatPosition(sub.position) : sub.since;
    if (since !== null) headers[HEADERS.since] = since;
    if (sub.history !== null) headers[HEADERS.history] = sub.history;
    this._transmit("SUBSCRIBE", headers, null);
    this._conn.subscribeReceipts.set(receipt, { sub, since });
  }

  /**
   * The RECEIPT of a SUBSCRIBE: the subscription is live. With positions, the RECEIPT carries
   * the topic's head at the seam (`perigee-epoch`, `perigee-offset`) and `perigee-replayed`,
   * the number of retained messages that follow it before live ones. The head becomes the
   * position only when nothing is replayed: replayed messages move it one by one, so a
   * connection lost in the middle of a replay resumes after the last one that arrived.
   */
  _subscribed({ sub, since }, frame) {
    if (this._subscriptions.get(sub.id) !== sub) return; // unsubscribed meanwhile
    sub.since = null;
    const head = positionOf(frame.headers);
    const replayed = parseInt(frame.headers[HEADERS.replayed], 10) || 0;
    if (head && replayed === 0 && isAhead(head, sub.position)) sub.position = head;
    if (sub.onSubscribed) this._callBack(sub.onSubscribed, sub.handle, frame);
    if (since === null) return;
    // Only `true` is a resume: a server that does not know perigee-since replays nothing.
    const recovered = frame.headers[HEADERS.recovered] === "true";
    this._log("subscription " + sub.id + " resumed from " + since + ": " + (recovered ? "recovered" : "not recovered") +
      ", " + replayed + " replayed");
    if (sub.onRecovery) this._callBack(sub.onRecovery, sub.handle, recovered, frame);
    if (this.onRecovery) this._callBack(this.onRecovery, sub.handle, recovered, frame);
  }

  _receive(conn, data) {
    conn.lastReceived = this._clock.now();
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
        const subscribing = conn.subscribeReceipts.get(id);
        if (subscribing) { conn.subscribeReceipts.delete(id); this._subscribed(subscribing, frame); return; }
        const pending = this._receipts.get(id);
        if (pending) { this._receipts.delete(id); pending.resolve(frame); }
        return;
      }
      case "ERROR": return this._serverError(conn, frame);
      default:
        this._error(new Error("unexpected frame from server: " + frame.command));
    }
  }

  /**
   * STOMP 1.2 "ERROR": the server closes the connection after it. The client does not wait for
   * that (a lenient server that keeps it open would leave a session in an unknown state): the
   * attempt is over, and the reconnect policy decides what follows.
   *
   * An ERROR whose `receipt-id` is that of a SUBSCRIBE refuses that subscription (Perigee's
   * "permission denied", "invalid destination", too many subscriptions...: whatever it is,
   * the same SUBSCRIBE would get the same answer on the next connection). The subscription is
   * dropped, so it is not sent again, and its onError hears of it before the client's. The
   * client does not read the ERROR's prose ("You may not subscribe to ..."): the receipt
   * identifies the frame exactly, and an ERROR without one is handled as any other.
   */
  _serverError(conn, frame) {
    // The `message` header names the error ("unauthorized", "token expired"...); the first line
    // of the body, which says why, follows it in the text an application is likely to show.
    const summary = frame.headers.message || "";
    const detail = String(frame.body || "").trim().split("\n")[0].slice(0, 200);
    const text = summary && detail && detail !== summary ? summary + " (" + detail + ")" : summary || detail;
    const error = new Error("STOMP ERROR: " + (text || "unknown"));
    error.frame = frame;
    if (summary === "server shutting down") {
      // A drain (the server restarts or scales in), not a refusal: no onError, and the policy
      // reconnects promptly (to another node behind the load balancer) and resubscribes.
      conn.goingAway = true;
      this._log("the server is shutting down; reconnecting");
      if (this._conn === conn) this._lost(conn, true);
      return;
    }
    conn.answeredWithError = true;
    const id = frame.headers["receipt-id"];
    const refused = id !== undefined ? conn.subscribeReceipts.get(id)?.sub : undefined;
    if (refused) {
      this._refuse(refused, error);
    } else {
      const pending = id !== undefined && this._receipts.get(id);
      if (pending) { this._receipts.delete(id); pending.reject(error); }
    }
    this._error(error);
    if (this._conn === conn) this._lost(conn, true);
  }

  /** The server refused `sub`: forget it and tell its owner. */
  _refuse(sub, error) {
    error.subscription = sub.id;
    error.destination = sub.destination;
    sub.refused = error;
    if (this._subscriptions.get(sub.id) === sub) this._subscriptions.delete(sub.id);
    this._log("subscription " + sub.id + " to " + sub.destination + " refused; it will not be sent again");
    if (sub.onError) this._callBack(sub.onError, error);
  }

  _connected(conn, frame) {
    if (conn.connected) return;
    conn.connected = true;
    this.version = frame.headers.version || "1.0";
    conn.parser.version = this.version;
    this.session = frame.headers.session || null;
    this.server = frame.headers.server || null;
    this.transport = conn.name;
    this._policy.connected(this._clock.now());
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
      conn.timers.push(this._clock.setInterval(() => {
        if (this._conn !== conn) return;
        if (this._clock.now() - conn.lastSent >= sendEvery * 0.9) {
          try { conn.transport.send("\n"); conn.lastSent = this._clock.now(); } catch (_) { /* onclose follows */ }
        }
      }, Math.max(100, Math.floor(sendEvery / 2))));
    }
    if (expectEvery > 0) {
      conn.timers.push(this._clock.setInterval(() => {
        if (this._conn !== conn) return;
        const silent = this._clock.now() - conn.lastReceived;
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
    // A presence event (perigee-event) has no place in the topic's order and carries no position.
    if (frame.headers[HEADERS.event] === undefined) {
      const position = positionOf(frame.headers);
      if (position) sub.position = position;
    }
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
    this._callBack(sub.callback, message);
  }

  /** Call a user's callback; what it throws goes to onError instead of into the client. */
  _callBack(callback, ...args) {
    try {
      callback(...args);
    } catch (error) {
      this._error(error);
    }
  }

  /** Stop timers and close the transport of the current attempt. */
  _teardown(reason) {
    const conn = this._conn;
    if (!conn) return;
    conn.timers.forEach((t) => { this._clock.clearTimeout(t); this._clock.clearInterval(t); });
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
   * The attempt `conn` is over; unless the user disconnected, open the next one when the
   * reconnect policy says (see reconnect-policy.js).
   */
  _lost(conn, opened) {
    if (this._conn === conn) this._teardown(null);
    const wasConnected = conn.connected;
    this.version = null;
    this.session = null;
    if (!this._wanted) { this._setState("disconnected"); return; }
    const next = this._policy.lost({
      now: this._clock.now(), answeredWithError: conn.answeredWithError, tokenFailed: conn.tokenFailed,
      goingAway: conn.goingAway,
    });
    if (!next) { this._wanted = false; this._setState("disconnected"); return; }
    this._setState(this.state === "connecting" && !wasConnected ? "connecting" : "reconnecting");
    if (next.newRound) {
      this._log("reconnecting in " + Math.round(next.delay) + " ms, trying " + this._policy.round.join(", "));
    } else {
      this._log(conn.name + " failed" + (opened ? " after opening" : "") + "; trying " + next.transport);
    }
    this._clock.clearTimeout(this._reconnectTimer);
    this._reconnectTimer = this._clock.setTimeout(() => {
      this._reconnectTimer = null;
      if (this._wanted && !this._conn) {
        if (this.state !== "connecting") this._setState("reconnecting");
        this._open();
      }
    }, next.delay);
  }
}
