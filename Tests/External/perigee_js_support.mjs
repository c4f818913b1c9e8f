// Shared helpers for the node tests of web/perigee.js (perigee_*_test.mjs): a transport, a
// clock, fetch and EventSource that the test drives by hand. No server, no browser.
import { PerigeeClient } from "../../web/perigee.js";
import { StompFrameParser } from "../../web/perigee/stomp-codec.js";

/** The frames in `data` (what a transport was given to send), parsed. */
export function framesOf(data, version = null) {
  const parser = new StompFrameParser();
  parser.version = version;
  return data.flatMap((d) => parser.push(d)).filter((e) => e.type === "frame").map((e) => e.frame);
}

/**
 * Register a transport called `name` in PerigeeClient.transports; returns the list of fake
 * servers, one per transport the client opens. `server.sent` records what the client sent.
 */
export function installFakeTransport(name = "fake") {
  const servers = [];
  PerigeeClient.transports[name] = (url, protocols) => {
    const server = {
      url, protocols, sent: [], closed: false, transport: null,
      open() { this.transport.onopen(); },
      reply(data) { this.transport.onmessage(data); },
      // The connection ends; a client that already closed it has stopped listening.
      drop(code = 1006) { this.closed = true; this.transport.onclose?.({ code, reason: "", opened: true }); },
      fail() { this.closed = true; this.transport.onclose?.({ code: 1006, reason: "", opened: false }); },
      frames() { return framesOf(this.sent); },
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

/**
 * A clock for PerigeeClient's `clock` option that moves only when the test calls advance():
 * timers fire in time order, each at its own due time.
 */
export class FakeClock {
  constructor(start = 1_000_000) {
    this.time = start;
    this.timers = new Map(); // handle -> {callback, at, every, repeat}
    this.nextHandle = 1;
  }

  now() { return this.time; }
  setTimeout(callback, ms) { return this._add(callback, ms, false); }
  setInterval(callback, ms) { return this._add(callback, ms, true); }
  clearTimeout(handle) { this.timers.delete(handle); }
  clearInterval(handle) { this.timers.delete(handle); }

  _add(callback, ms, repeat) {
    const handle = this.nextHandle++;
    const every = Math.max(0, Number(ms) || 0);
    this.timers.set(handle, { callback, at: this.time + every, every, repeat });
    return handle;
  }

  /** Milliseconds until the earliest pending timer, or null when none is pending. */
  nextDelay() {
    let at = null;
    for (const t of this.timers.values()) if (at === null || t.at < at) at = t.at;
    return at === null ? null : at - this.time;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      let due = null;
      for (const [handle, t] of this.timers) {
        if (t.at <= end && (due === null || t.at < due.t.at)) due = { handle, t };
      }
      if (due === null) break;
      this.time = due.t.at;
      if (due.t.repeat) due.t.at += Math.max(1, due.t.every);
      else this.timers.delete(due.handle);
      due.t.callback();
    }
    this.time = end;
  }

  /** Fire the earliest pending timer (after moving time to it); returns the time it waited. */
  fireNext() {
    const delay = this.nextDelay();
    if (delay === null) throw new Error("no timer pending");
    this.advance(delay);
    return delay;
  }
}

/** disconnect() without waiting for the DISCONNECT receipt, on a client driven by `clock`. */
export async function disconnectNow(client, clock) {
  const done = client.disconnect({ timeout: 1 });
  clock.advance(1);
  await done;
}

/** Wait until `predicate()` holds (for work that goes through promises, e.g. fetch). */
export async function until(predicate, timeout = 2000) {
  const end = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > end) throw new Error("timed out waiting for " + predicate);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A scripted fetch: each request waits until the test answers it. */
export function fakeFetch() {
  const requests = [];
  const fetch = (url, init = {}) => new Promise((resolve, reject) => {
    const request = {
      url, method: init.method, body: init.body, headers: init.headers || {}, credentials: init.credentials,
      settled: false,
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

/** An EventSource class whose instances (in `sources`) the test makes emit. */
export function fakeEventSource() {
  const sources = [];
  class FakeEventSource {
    constructor(url, init) { this.url = url; this.init = init; this.closed = false; sources.push(this); }
    close() { this.closed = true; }
    emit(data) { this.onmessage({ data }); }
  }
  return { EventSource: FakeEventSource, sources };
}
