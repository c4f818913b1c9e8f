// The shoutbox page: every shout sent to /topic/shouts shows up live in every open window,
// with its author (the gateway's `perigee-user` header) when the sender was authenticated.
// On opening it shows the last HISTORY shouts the server kept (perigee-history); after a
// reconnect it resumes where it was (perigee.js sends perigee-since), and says so when the
// server could not replay what it missed. "Who is here" lists the users subscribed to the
// shoutbox (GET /api/presence/..., then join/leave events) and counts anonymous viewers.
// Message data is untrusted: shoutbox-view.js renders it only with textContent.
import { PerigeeClient } from "./perigee.js";
import {
  PresenceList, RECOVERY_NOTICE, anonymousText, pageOptions, presenceItem, shoutItem,
} from "./shoutbox-view.js";

const DESTINATION = "/topic/shouts";
const MAX_SHOWN = 500;
const HISTORY = 50;
// Anonymous viewers cause no events: the count is read again this often (ms).
const PRESENCE_REFRESH = 30000;

const $ = (id) => document.getElementById(id);
const messages = $("messages");
const text = $("shout_text");
const form = $("shout_form");
const connection = $("connection");
const transport = $("transport");
const notice = $("notice");
const recoveryNotice = $("recovery_notice");
const presenceSection = $("presence");
const who = $("who");
const anonymousCount = $("anonymous_count");

// Message ids of shouts this window sent, to mark them as "mine".
const mine = new Set();

function showState(state) {
  connection.textContent = state;
  connection.dataset.state = state;
  connection.className = "state state-" + state;
  transport.textContent = state === "connected" ? client.transport : "none";
  if (state === "connected") notice.textContent = "";
}

function showNotice(message) {
  notice.textContent = message;
}

function addShout(message) {
  const item = shoutItem(document, message, { mine: mine.has(message.headers["x-shout-id"]) });
  const atBottom = messages.scrollTop + messages.clientHeight >= messages.scrollHeight - 4;
  messages.append(item);
  while (messages.children.length > MAX_SHOWN) messages.firstElementChild.remove();
  if (atBottom) messages.scrollTop = messages.scrollHeight;
}

// ---------------------------------------------------------------- who is here

const presence = new PresenceList();
let me = null;            // this window's user (CONNECTED's perigee-user), or null
let presenceRequest = 0;  // the latest snapshot request; older answers are ignored
let eventsSince = null;   // events seen while that request is out: applied again on its answer
let presenceOff = false;  // the server answered 404: no presence on this destination

function showPresence() {
  who.replaceChildren(...presence.list().map((entry) => presenceItem(document, entry, { me })));
  anonymousCount.textContent = anonymousText(presence.anonymous);
}

function presenceEvent(kind, body) {
  let parsed;
  try { parsed = JSON.parse(body); } catch (_) { return; }
  presence.apply(kind, parsed);
  if (eventsSince) eventsSince.push([kind, parsed]);
  showPresence();
}

/**
 * Read the snapshot once the subscription is in place (so no event between the two is
 * lost), then apply again the events that arrived while the request was out: each says what
 * is now true of its user, so one the snapshot already counted changes nothing.
 */
async function refreshPresence() {
  if (presenceOff) return;
  const request = ++presenceRequest;
  const events = [];
  eventsSince = events;
  const headers = fromUrl.token ? { Authorization: "Bearer " + fromUrl.token } : {};
  try {
    const response = await fetch("/api/presence" + DESTINATION, { headers, credentials: "same-origin" });
    if (request !== presenceRequest) return;
    if (response.status === 404) { // no presence configured: stop asking until a reload
      presenceOff = true;
      presenceSection.hidden = true;
      return;
    }
    if (!response.ok) return;
    const snapshot = await response.json();
    if (request !== presenceRequest) return;
    presence.reset(snapshot);
    events.forEach(([kind, body]) => presence.apply(kind, body));
    presenceSection.hidden = false;
    showPresence();
  } catch (_) {
    // Offline or not JSON: keep what is shown; the next (re)connection asks again.
  } finally {
    if (eventsSince === events) eventsSince = null;
  }
}

// ---------------------------------------------------------------- the client

function onMessage(message) {
  const event = message.headers["perigee-event"];
  if (event !== undefined) presenceEvent(event, message.body);
  else addShout(message);
}

function onRecovery(subscription, recovered) {
  // The subscription is live again either way; when the server could not replay what this
  // page missed, say so (it stays until a reload: those shouts are still missing).
  if (!recovered) {
    recoveryNotice.textContent = RECOVERY_NOTICE;
    recoveryNotice.hidden = false;
  }
  window.shoutboxRecoveries.push(recovered);
}
// What every resume answered, in order (for tests and the console).
window.shoutboxRecoveries = [];

// `?transports=...` and `?token=...` in the page URL: see pageOptions in shoutbox-view.js.
const fromUrl = pageOptions(location.search, Object.keys(PerigeeClient.transports));
if (fromUrl.unknownTransports.length > 0) {
  showNotice("Unknown transport in the page URL: " + fromUrl.unknownTransports.join(", "));
}

const client = new PerigeeClient({
  transports: fromUrl.transports,
  token: fromUrl.token,
  connectTimeout: 5000, // per transport: a proxy that holds a WebSocket or buffers a stream costs 5 s
  heartbeat: { outgoing: 10000, incoming: 10000 },
  reconnect: { initialDelay: 500, maxDelay: 15000 },
  onStateChange: showState,
  onError: (error) => showNotice(error.message),
  onConnect: (frame) => { me = frame.headers["perigee-user"] || null; },
});

client.subscribe(DESTINATION, onMessage, {}, {
  history: HISTORY, presence: true, onRecovery, onSubscribed: () => refreshPresence(),
});
setInterval(() => { if (client.state === "connected") refreshPresence(); }, PRESENCE_REFRESH);

// Leaving the page leaves the shoutbox at once, so that "who is here" is right: a browser may
// keep a page it navigated away from (the back/forward cache) with its connection open.
// Coming back to it from that cache resumes where it was.
window.addEventListener("pagehide", () => { client.disconnect({ timeout: 0 }); });
window.addEventListener("pageshow", (event) => { if (event.persisted) client.connect(); });

let nextShout = 1;
function shout() {
  const value = text.value;
  if (value.trim() === "") return;
  const shoutId = (client.session || "local") + "-" + nextShout++;
  mine.add(shoutId);
  text.value = "";
  client
    .send(DESTINATION, value, { "content-type": "text/plain;charset=utf-8", "x-shout-id": shoutId, receipt: true })
    .catch((error) => {
      showNotice("Not sure that shout got through: " + error.message);
    });
  text.focus();
}

// Submitting the form covers both the button and the Enter key.
form.addEventListener("submit", (event) => {
  event.preventDefault();
  shout();
});

showState(client.state);
client.connect();

// For debugging from the console.
window.perigee = client;
