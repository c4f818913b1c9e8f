// The shoutbox page: every shout sent to /topic/shouts shows up live in every open window,
// with its author (the gateway's `perigee-user` header) when the sender was authenticated.
// Message data is untrusted: shoutbox-view.js renders it only with textContent.
import { PerigeeClient } from "./perigee.js";
import { pageOptions, shoutItem } from "./shoutbox-view.js";

const DESTINATION = "/topic/shouts";
const MAX_SHOWN = 500;

const $ = (id) => document.getElementById(id);
const messages = $("messages");
const text = $("shout_text");
const form = $("shout_form");
const connection = $("connection");
const transport = $("transport");
const notice = $("notice");

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
});

client.subscribe(DESTINATION, addShout);

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
