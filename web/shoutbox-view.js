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

/** The notice shown when a resume failed (the page keeps working live). */
export const RECOVERY_NOTICE =
  "Some shouts may be missing (the server lost its history); reload to see the latest.";

/**
 * Who is subscribed to the shoutbox: the users of `GET /api/presence/<destination>` (one entry
 * a user, however many tabs), kept current by `perigee-event: join|leave` MESSAGEs, and how
 * many anonymous sessions the snapshot counted (they cause no events). Everything in it comes
 * from other people and is only shown as text.
 */
export class PresenceList {
  constructor() {
    this.users = new Map(); // user id -> {user, data}
    this.anonymous = 0;
  }

  /** Replace everything with a snapshot `{users: [{user, data, sessions}], anonymous}`. */
  reset(snapshot) {
    this.users.clear();
    const users = snapshot && Array.isArray(snapshot.users) ? snapshot.users : [];
    for (const entry of users) {
      if (entry && typeof entry.user === "string") this.users.set(entry.user, { user: entry.user, data: entry.data ?? null });
    }
    const anonymous = snapshot ? Number(snapshot.anonymous) : 0;
    this.anonymous = Number.isInteger(anonymous) && anonymous > 0 ? anonymous : 0;
  }

  /**
   * A join or leave event, its body `{"user": ..., "data": ...}` parsed. Each event says what
   * is now true of its user, so applying again events that a snapshot already counted is
   * harmless as long as they are applied in order.
   */
  apply(kind, body) {
    if (!body || typeof body.user !== "string") return;
    if (kind === "join") this.users.set(body.user, { user: body.user, data: body.data ?? null });
    else if (kind === "leave") this.users.delete(body.user);
  }

  /** The users, sorted by id. */
  list() {
    return [...this.users.values()].sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
  }
}

/**
 * The name to show for a user: its presence data's `name` when that is a non-empty string
 * (a JWT's `presence` claim, a connect hook's `presence`), else its id.
 */
export function displayName(entry) {
  const name = entry.data && typeof entry.data === "object" ? entry.data.name : undefined;
  return typeof name === "string" && name.trim() !== "" ? name : entry.user;
}

/** The list item for one user who is here, as text; `me` marks this window's own user. */
export function presenceItem(document, entry, { me = null } = {}) {
  const item = document.createElement("li");
  item.className = entry.user === me ? "user me" : "user";
  item.dataset.user = entry.user;
  item.textContent = displayName(entry);
  if (displayName(entry) !== entry.user) item.title = entry.user;
  return item;
}

/** "" without anonymous viewers, else "1 anonymous viewer" / "N anonymous viewers". */
export function anonymousText(count) {
  if (!count) return "";
  return count === 1 ? "1 anonymous viewer" : count + " anonymous viewers";
}
