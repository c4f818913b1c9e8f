// The Django shoutbox page: history rendered by Django, live shouts from Perigee.
//
// perigee.js is loaded from Perigee itself (it serves CORS for the origins in its
// origins.allowed). The WebSocket handshake to Perigee carries this site's session cookie
// (cookies go by host name, whatever the port); Perigee hands it to Django's connect hook,
// which says who the user is. Every MESSAGE then carries `perigee-user`, set by Perigee from
// the sender's session: that is the author shown, and no client can forge it.
// Message bodies are untrusted: they are only ever rendered with textContent.
const config = JSON.parse(document.getElementById("shoutbox-config").textContent);
const MAX_SHOWN = 500;

const $ = (id) => document.getElementById(id);
const messages = $("messages");
const text = $("shout_text");
const connection = $("connection");
const notice = $("notice");

// For tests and the console: the client, and every error the page was told of.
const page = { client: null, errors: [] };
window.shoutbox = page;

function showNotice(message) {
  notice.textContent = message;
}

function showState(state) {
  connection.textContent = state;
  connection.className = "state state-" + state;
}

/** An error as a person should read it: for a STOMP ERROR, its message and the reason. */
function describe(error) {
  const frame = error.frame;
  if (!frame) return error.message;
  return (frame.headers.message || "error") + (frame.body ? ": " + frame.body : "");
}

function reportError(error) {
  const line = describe(error);
  page.errors.push(line);
  showNotice(line);
}

function addShout({ id, author, body, announcement }) {
  // A shout stored just before the page was rendered may also arrive live: show it once.
  if (id && [...messages.children].some((item) => item.dataset.shoutId === id)) return;
  const item = document.createElement("li");
  item.className = announcement ? "shout announcement" : "shout";
  item.dataset.shoutId = id || "";
  item.dataset.author = announcement ? "" : author;

  const time = document.createElement("time");
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = now.toISOString().slice(11, 19); // UTC, as the history

  const who = document.createElement("span");
  who.className = "author";
  who.textContent = announcement ? "announcement" : author;

  const content = document.createElement("span");
  content.className = "body";
  content.textContent = body;

  item.append(time, who, content);
  const atBottom = messages.scrollTop + messages.clientHeight >= messages.scrollHeight - 4;
  messages.append(item);
  while (messages.children.length > MAX_SHOWN) messages.firstElementChild.remove();
  if (atBottom) messages.scrollTop = messages.scrollHeight;
}

function start(PerigeeClient) {
  // `?transports=xhr-streaming` (names as in perigee.js) forces the transports tried.
  const forced = new URLSearchParams(location.search).get("transports");
  const client = new PerigeeClient({
    url: config.stompUrl,
    transports: forced ? forced.split(",") : undefined,
    heartbeat: { outgoing: 10000, incoming: 10000 },
    reconnect: { initialDelay: 500, maxDelay: 15000 },
    onStateChange: (state) => {
      showState(state);
      if (state === "connected") showNotice("");
    },
    onError: reportError,
  });
  page.client = client;

  client.subscribe(config.shouts, (message) => addShout({
    id: message.headers["x-shout-id"],
    author: message.headers["perigee-user"] || "anonymous",
    body: message.body,
  }));
  client.subscribe(config.announcements, (message) => addShout({ body: message.body, announcement: true }));

  client.connect();
}

// Shouts go out over Perigee, which calls Django's send hook: the hook stores the shout (or
// refuses it, and then Perigee answers with an ERROR whose receipt-id is this SEND's).
$("shout_form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = text.value.trim();
  if (value === "") return;
  if (value.length > config.maxLength) {
    showNotice(`A shout has at most ${config.maxLength} characters.`);
    return;
  }
  if (!page.client) {
    showNotice("Not connected to Perigee.");
    return;
  }
  text.value = "";
  // onError has already reported an ERROR; only other failures are reported here.
  page.client.send(config.shouts, value, { "content-type": "text/plain;charset=utf-8", receipt: true })
    .catch((error) => { if (!error.frame) reportError(error); });
  text.focus();
});

// Staff only: the announcement goes to Django, which publishes it with one call to Perigee's
// HTTP API. It arrives here, as everywhere, over the /topic/announcements subscription.
const announceForm = $("announce_form");
if (announceForm) {
  announceForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(announceForm);
    try {
      const response = await fetch(announceForm.action, {
        method: "POST", body: data, credentials: "same-origin", headers: { Accept: "application/json" },
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || "HTTP " + response.status);
      $("announce_text").value = "";
      showNotice(`Announced (delivered to ${answer.delivered} subscribers).`);
    } catch (error) {
      reportError(new Error("Announcement failed: " + error.message));
    }
  });
}

showState("connecting");
import(config.perigeeJs).then(
  ({ PerigeeClient }) => start(PerigeeClient),
  (error) => {
    showState("disconnected");
    reportError(new Error(`Could not load ${config.perigeeJs}: is Perigee running? (${error.message})`));
  },
);
