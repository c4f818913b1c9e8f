// What the shoutbox page shows, without the page: the options its URL gives and the list item
// of one shout. Kept apart from shoutbox.js (which wires them to the document and the client)
// so that node tests can run them against a stand-in document.
//
// Everything in a shout (body, author, any header) comes from other people: it only ever
// reaches the page as textContent, never as HTML.

/** What a shout shows as its author when the gateway named none (an anonymous sender). */
export const ANONYMOUS = "anonymous";

/**
 * The author of a MESSAGE: its `perigee-user` header, which the gateway sets from the sender's
 * authenticated identity (and which no client can set itself), or null for an anonymous one.
 */
export function authorOf(headers) {
  const user = headers ? headers["perigee-user"] : undefined;
  return typeof user === "string" && user !== "" ? user : null;
}

/**
 * The options the page URL's query string gives:
 * - `?transports=xhr-polling` or `?transports=websocket,eventsource` forces the transports
 *   tried, in that order (names as in perigee.js); `unknownTransports` lists names not in
 *   `known`. Without it (or empty) `transports` is undefined: the client's default order.
 * - `?token=...` is passed to the client as its `token` option (for demos and tests; a real
 *   application gets its token from its own backend, see the README), else undefined.
 */
export function pageOptions(search, known) {
  const params = new URLSearchParams(search);
  const options = { transports: undefined, unknownTransports: [], token: undefined };
  const transports = params.get("transports");
  if (transports !== null) {
    const names = transports.split(",").map((name) => name.trim()).filter((name) => name !== "");
    options.unknownTransports = names.filter((name) => !known.includes(name));
    if (names.length > 0) options.transports = names;
  }
  const token = params.get("token");
  if (token !== null && token !== "") options.token = token;
  return options;
}

/**
 * The list item for one shout: its time, its author (ANONYMOUS, with class `anonymous`, when
 * the message names none) and its body, each set with textContent. `mine` marks a shout this
 * window sent; `now` is the Date it arrived.
 */
export function shoutItem(document, message, { mine = false, now = new Date() } = {}) {
  const item = document.createElement("li");
  item.dataset.messageId = message.headers["message-id"] || "";
  if (mine) item.classList.add("mine");

  const time = document.createElement("time");
  time.dateTime = now.toISOString();
  time.textContent = now.toLocaleTimeString();

  const user = authorOf(message.headers);
  const author = document.createElement("span");
  author.className = user === null ? "author anonymous" : "author";
  author.textContent = user === null ? ANONYMOUS : user;

  const body = document.createElement("span");
  body.className = "body";
  body.textContent = message.body;

  item.append(time, author, body);
  return item;
}
