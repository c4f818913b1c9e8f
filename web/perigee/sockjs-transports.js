/**
 * The SockJS 0.3 fallback transports over HTTP: "xhr-streaming", "eventsource" and
 * "xhr-polling", each one SockJS session at `<prefix>/<3-digit server>/<random session>/...`.
 * One SockJS message carries STOMP text; what the client sends goes out as a JSON array of
 * strings in a POST to `xhr_send`, one request at a time so that order is kept. SockJS carries
 * text only: a binary body is sent as its UTF-8 decoding. The requests are made with `fetch`
 * (streamed for xhr-streaming) and `EventSource`; `client.options.fetch` and
 * `client.options.EventSource` replace them (tests).
 */
import { toText } from "./stomp-codec.js";

/** The URL with a ws(s) scheme turned into http(s), without a trailing slash. */
function httpUrl(url) { return String(url).replace(/^ws(s?):/i, "http$1:").replace(/\/+$/, ""); }

/**
 * The SockJS frame in an EventSource event's `data`, as the server meant it. SockJS servers
 * %-escape EventSource data because sockjs-client runs decodeURI on it: Perigee escapes `%`
 * as `%25`, sockjs-node also CR, LF and NUL. So this undoes exactly what decodeURI undoes.
 * Returns null when the data holds a malformed escape (a `%` not followed by two hex digits,
 * or escapes that are not UTF-8), which decodeURI would throw on: the caller treats that as a
 * broken transport rather than guess what the server meant.
 */
export function unescapeEventSourceData(data) {
  const text = String(data);
  if (text.indexOf("%") < 0) return text;
  try {
    return decodeURI(text);
  } catch (_) {
    return null;
  }
}

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
    this.outbox.push(toText(data));
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
    // Cookies go with every request, cross-origin too (sockjs-client sets withCredentials
    // likewise): the application's connect hook may identify the user by its session cookie.
    // The browser hands the response over only if the gateway allows this origin
    // (Access-Control-Allow-Credentials), which it does for its configured origins.
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

  /** eventsource: each `data:` event is a frame, %-escaped (see unescapeEventSourceData).
   *  When the server ends the response the browser would retry after its own delay; a new
   *  EventSource resumes at once instead. */
  _eventSource() {
    const ES = this.EventSource;
    if (!ES) throw new Error("no EventSource implementation available");
    const open = () => {
      let frames = 0;
      const source = new ES(this.base + "/eventsource", { withCredentials: true }); // cookies: see _post
      this.receiving = source;
      source.onmessage = (event) => {
        frames++;
        const text = unescapeEventSourceData(event.data);
        if (text === null) { this._finish(1002, "malformed escape in eventsource data"); return; }
        this._frame(text);
      };
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

/** The transport factory (see `PerigeeClient.transports`) for the SockJS transport `kind`. */
export function sockJSTransport(kind) {
  return (url, protocols, client) => new SockJSTransport(kind, url, client);
}
