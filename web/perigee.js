/**
 * perigee.js — a small STOMP 1.0/1.1/1.2 client for the Perigee gateway, over WebSocket or, when
 * WebSocket does not get through, over the SockJS 0.3 fallback transports Perigee serves at the
 * same prefix. Plain ES modules, no dependencies, no build step. This file is the entry point;
 * the code lives in ./perigee/: stomp-codec.js (frames, parser, header escaping),
 * websocket-transport.js, sockjs-transports.js, client.js (PerigeeClient) and
 * reconnect-policy.js (which transport next, and when).
 *
 *   import { PerigeeClient } from "./perigee.js";
 *
 *   const client = new PerigeeClient({
 *     url: "ws://example.org/stomp",   // default: ws(s)://<page host>/stomp; http(s):// works too
 *     transports: ["websocket", "xhr-streaming", "eventsource", "xhr-polling"], // the default order
 *     versions: ["1.2", "1.1", "1.0"], // sent as accept-version
 *     host: "example.org",             // CONNECT `host` header (default: the URL's host name)
 *     connectHeaders: {login: "u", passcode: "p"},   // extra CONNECT headers
 *     token: "eyJ...",                 // or () => token, or async () => token: see Behaviour
 *     heartbeat: {outgoing: 10000, incoming: 10000}, // ms; 0 disables that direction
 *     reconnect: {initialDelay: 500, maxDelay: 30000, resetAfter: 5000}, // or `false`: never
 *     connectTimeout: 10000,           // ms per transport, from opening it to CONNECTED
 *     onStateChange: (state, previous) => {},
 *     onError: (error) => {},          // Error; for an ERROR frame, error.frame is the frame;
 *                                      // for a refused subscription, also error.subscription
 *                                      // (its id) and error.destination
 *     onConnect: (connectedFrame) => {},
 *     onRecovery: (subscription, recovered, receiptFrame) => {}, // a resume's answer: Positions
 *     debug: (text) => {},             // optional trace of frames and decisions
 *     clock: {now, setTimeout, clearTimeout, setInterval, clearInterval}, // default: real time
 *   });
 *
 *   client.connect();
 *   const sub = client.subscribe("/topic/shouts", (message) => {
 *     message.body;         // string (UTF-8 decoded)
 *     message.binaryBody;   // Uint8Array, the exact bytes
 *     message.headers;      // {destination, "message-id", subscription, ...} (unescaped)
 *     message.ack(); message.nack();   // for ack: "client" / "client-individual"
 *   }, {ack: "auto"}, {onError: (error) => {}});  // headers; options: onError if refused
 *   sub.id; sub.unsubscribe(); sub.refused;  // the error that refused it, or null
 *   sub.destination; sub.position;           // {epoch, offset} last seen, or null: Positions
 *
 *   client.subscribe("/topic/shouts", onShout, {}, {
 *     history: 50,        // perigee-history:50 — the last 50 kept messages come first
 *     presence: true,     // perigee-presence:true — join/leave events reach onShout too
 *     onRecovery: (subscription, recovered, receiptFrame) => {}, // as the client's, first
 *     onSubscribed: (subscription, receiptFrame) => {},          // each RECEIPT of its SUBSCRIBE
 *   });
 *
 *   await client.send("/topic/shouts", "hello", {"content-type": "text/plain"});
 *   await client.send("/topic/shouts", "hello", {receipt: true}); // resolves on RECEIPT
 *   await client.disconnect();  // DISCONNECT (waits briefly for its receipt), then closes
 *   client.disconnect({timeout: 0}); // DISCONNECT and close at once (in a pagehide handler)
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
 *   EventSource data arrives %-escaped (SockJS servers escape it because sockjs-client runs
 *   decodeURI on it) and is unescaped the same way; data with a malformed escape closes the
 *   transport as a protocol error, like a malformed SockJS frame.
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
 *   When every transport of the round failed, or the server answered CONNECT with an ERROR
 *   (another transport would get the same answer), the next round waits for the backoff below.
 * - ERROR: STOMP 1.2 has the server close the connection after an ERROR; the client closes its
 *   side at once too, and reconnects as after any lost connection. onError gets an Error
 *   "STOMP ERROR: <message header> (<first line of the body>)" with the frame as error.frame.
 *   So Perigee's "unauthorized" and "authorization unavailable" are retried with the growing
 *   backoff, for ever (each attempt with a fresh token), and "token expired", which ends a
 *   session that lasted, reconnects within initialDelay (the backoff has reset).
 * - Drain: ERROR "server shutting down", WebSocket close 1001 or SockJS close 3000 "Go away!"
 *   mean the server is going away, not refusing: no onError, the backoff resets, and the
 *   client reconnects within [0, initialDelay) with the same transport (to another node behind
 *   the load balancer), then subscribes again to everything under the same ids.
 * - Token: `token` is a string, or a function (sync, or returning a promise) called before every
 *   attempt — the first, each reconnect, each fallback to another transport — so short-lived
 *   tokens work. A non-empty token (trimmed) goes in CONNECT as `Authorization: Bearer <token>`,
 *   on every transport and never in a URL, replacing any Authorization of connectHeaders; null,
 *   "" or blank: no Authorization. A function that throws, rejects or does not settle within
 *   connectTimeout goes to onError (error.cause: what it threw) and ends the round like an
 *   ERROR answering CONNECT: the next attempt, after the backoff, calls it again. The debug
 *   trace writes neither Authorization nor passcode values.
 * - Cookies: the SockJS requests are made with credentials ("include"; EventSource
 *   withCredentials), cross-origin too, so that the gateway's connect hook sees the
 *   application's session cookie; a WebSocket handshake sends cookies by itself.
 * - Reconnection: after a lost connection the state is "reconnecting"; attempts are spaced by
 *   an exponential backoff (initialDelay doubled per round, capped at maxDelay) with jitter (a
 *   random delay in [delay/2, delay]). The backoff resets only once a connection has stayed
 *   up for `resetAfter` ms: a server that accepts CONNECT and then ends the session at once
 *   (with an ERROR, say) is retried ever more slowly, not every initialDelay. A reconnect
 *   starts with the transport that last reached CONNECTED, then the others in `transports`
 *   order (a network that needed a fallback once most likely needs it again, and this spares
 *   it the timeouts of the transports before it); connect() after disconnect() starts again
 *   from the first one.
 *   After CONNECTED every live subscription is sent again under its same id, then frames
 *   queued while offline are flushed.
 * - Refused subscriptions: every SUBSCRIBE carries a `receipt` the client sets, so an ERROR
 *   with that `receipt-id` (Perigee's "permission denied" for a destination the client may
 *   not read, say) names exactly the subscription the server refused. That subscription's
 *   onError, then the client's onError, get the error; it is dropped and not sent again on
 *   reconnecting (subscribe again to retry it). The client does not parse the ERROR's text.
 * - send() while not connected queues the frame (bounded by `maxQueuedFrames`, default 1000).
 *   A send with a receipt whose connection is lost before the RECEIPT rejects: the server may
 *   or may not have it.
 * - Positions and resuming (Perigee's channels with history): every MESSAGE on a /topic/
 *   destination carries `perigee-epoch` and `perigee-offset`, and the RECEIPT of a SUBSCRIBE
 *   carries the topic's head (the same two headers). Each subscription remembers the last
 *   position it saw (`sub.position`, `{epoch, offset}`): the head of its RECEIPT when nothing
 *   is replayed, else each MESSAGE as it is delivered. Presence events (a `perigee-event`
 *   header) carry none and leave it alone. When the client subscribes again — after any
 *   reconnect, and after falling back to another transport — a subscription with a position
 *   sends `perigee-since:<epoch>:<offset>`: the server replays, after the RECEIPT and before
 *   live messages, every kept message after that position, exactly once, and the callback
 *   gets them like live ones. The RECEIPT then says whether that worked: the subscription's
 *   `onRecovery(sub, recovered, receiptFrame)`, then the client's, are called with
 *   `recovered` true (nothing was missed) or false: the server could not say what was missed
 *   (it restarted, so the epoch changed; the position fell out of its history; the topic keeps
 *   no history; a pattern subscription; a server without positions), and the application
 *   must reload its state (an HTTP request, say: Perigee's `GET /api/history/...`). The
 *   subscription is live in either case. `receiptFrame.headers["perigee-replayed"]` is the
 *   number of messages replayed. Nothing is called for a SUBSCRIBE without `perigee-since`.
 *   Queue messages have no position, so queue subscriptions never resume.
 * - History: the `history: k` option (or a `perigee-history` header) is sent on every
 *   SUBSCRIBE of that subscription: the first one delivers the last k kept messages before
 *   live ones; on a resume `perigee-since` wins, and if the resume fails the server sends
 *   the last k instead (so a page that shows recent messages shows them again after a
 *   restart that lost what it missed). Do not use it if you reload everything on
 *   `recovered` false and would count those k twice.
 * - Positions across page loads: a `perigee-since` header given to subscribe() is sent on
 *   the first SUBSCRIBE (and reported through onRecovery like any resume); after that the
 *   client sends the position it remembers. Store `sub.position` (sessionStorage, say) as
 *   `epoch + ":" + offset` and pass it on the next page load to miss nothing in between.
 * - Custom transports: `PerigeeClient.transports` maps a name to a factory
 *   `(url, protocols, client) => transport`. A transport has `send(data)`, `close()`, and calls
 *   its `onopen()`, `onmessage(data: string | ArrayBuffer | Uint8Array)`, `onclose({code,
 *   reason, opened})`.
 */

export { PerigeeClient, PerigeeClient as default } from "./perigee/client.js";
export {
  STOMP_SUBPROTOCOLS, StompFrameParser, encodeFrame, escapeHeader, unescapeHeader,
} from "./perigee/stomp-codec.js";
