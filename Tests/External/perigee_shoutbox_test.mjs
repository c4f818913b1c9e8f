// web/shoutbox-view.js (what the shoutbox shows) against a stand-in document that has no HTML
// parser at all: any attempt to put markup into the page throws.
//   node --test Tests/External/perigee_shoutbox_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ANONYMOUS, PresenceList, RECOVERY_NOTICE, anonymousText, authorOf, displayName, pageOptions, presenceItem, shoutItem,
} from "../../web/shoutbox-view.js";

/** Just enough of a DOM element for shoutItem; the HTML-parsing entry points throw. */
class StandInElement {
  constructor(tagName) {
    this.tagName = tagName.toUpperCase();
    this.children = [];
    this.dataset = {};
    this.className = "";
    this._text = "";
    const classes = new Set();
    this.classList = { add: (c) => classes.add(c), contains: (c) => classes.has(c) || this.className.split(" ").includes(c) };
  }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(""); }
  set textContent(value) { this.children = []; this._text = String(value); }
  append(...nodes) { this.children.push(...nodes); }
  set innerHTML(_) { throw new Error("innerHTML used with message data"); }
  set outerHTML(_) { throw new Error("outerHTML used with message data"); }
  insertAdjacentHTML() { throw new Error("insertAdjacentHTML used with message data"); }
  find(cls) { return this.children.find((c) => c.className.split(" ").includes(cls)); }
}

const standInDocument = {
  created: [],
  createElement(tag) { const e = new StandInElement(tag); this.created.push(e); return e; },
  write() { throw new Error("document.write used"); },
};

const message = (headers, body) => ({ headers: { "message-id": "m-1", ...headers }, body });

test("shoutbox: a shout shows its author from perigee-user, as text", () => {
  const markup = '<img src=x onerror="alert(1)">&amp;';
  standInDocument.created = [];
  const item = shoutItem(standInDocument, message({ "perigee-user": markup }, "<b>hi</b>"), {
    now: new Date("2026-11-30T03:00:00Z"),
  });
  assert.equal(item.tagName, "LI");
  assert.equal(item.dataset.messageId, "m-1");
  assert.deepEqual(item.children.map((c) => c.tagName), ["TIME", "SPAN", "SPAN"]);
  const author = item.find("author");
  assert.equal(author.textContent, markup, "the author exactly as sent, not parsed");
  assert.ok(!author.classList.contains("anonymous"));
  assert.equal(item.find("body").textContent, "<b>hi</b>");
  assert.equal(item.children[0].dateTime, "2026-11-30T03:00:00.000Z");
  assert.deepEqual(standInDocument.created.map((e) => e.tagName), ["LI", "TIME", "SPAN", "SPAN"],
    "no element other than the item's own");
});

test("shoutbox: a shout without perigee-user (or with an empty one) is anonymous; mine is marked", () => {
  for (const headers of [{}, { "perigee-user": "" }]) {
    const item = shoutItem(standInDocument, message(headers, "hello"), { mine: true });
    const author = item.find("author");
    assert.equal(author.textContent, ANONYMOUS);
    assert.ok(author.classList.contains("anonymous"));
    assert.ok(item.classList.contains("mine"));
  }
  assert.equal(authorOf({ "perigee-user": "alice" }), "alice");
  assert.equal(authorOf({ "x-user": "mallory" }), null, "only the gateway's header names an author");
  assert.equal(authorOf(undefined), null);
});

test("shoutbox: ?token= becomes the token option; ?transports= the transports", () => {
  const known = ["websocket", "xhr-streaming", "eventsource", "xhr-polling"];
  assert.deepEqual(pageOptions("?token=eyJ.a-b_c.d%2Be", known),
    { transports: undefined, unknownTransports: [], token: "eyJ.a-b_c.d+e" });
  assert.deepEqual(pageOptions("", known), { transports: undefined, unknownTransports: [], token: undefined });
  assert.deepEqual(pageOptions("?token=", known).token, undefined, "empty: no token");
  assert.deepEqual(pageOptions("?transports=xhr-polling,%20nope,&token=t", known),
    { transports: ["xhr-polling", "nope"], unknownTransports: ["nope"], token: "t" });
  assert.deepEqual(pageOptions("?transports=", known).transports, undefined);
});

test("shoutbox: who is here — a snapshot, then join/leave events, one entry a user", () => {
  const list = new PresenceList();
  list.reset({
    destination: "/topic/shouts", anonymous: 2,
    users: [{ user: "carol", sessions: 2, data: null }, { user: "alice", sessions: 1, data: { name: "Alice A." } }, { nope: 1 }],
  });
  assert.deepEqual(list.list().map((e) => e.user), ["alice", "carol"]);
  assert.equal(list.anonymous, 2);
  list.apply("join", { user: "bob", data: null });
  list.apply("join", { user: "alice", data: { name: "Alice A." } }); // already counted: no change
  assert.deepEqual(list.list().map((e) => e.user), ["alice", "bob", "carol"]);
  list.apply("leave", { user: "carol", data: null });
  list.apply("leave", { user: "nobody", data: null });
  list.apply("join", { data: null }); // no user: ignored
  list.apply("wave", { user: "dave" });
  assert.deepEqual(list.list().map((e) => e.user), ["alice", "bob"]);
  // Events seen while a snapshot was being read, applied again on it, in order.
  list.reset({ users: [{ user: "bob", sessions: 1, data: null }], anonymous: 0 });
  for (const [kind, body] of [["leave", { user: "bob" }], ["join", { user: "bob" }], ["join", { user: "erin" }]]) list.apply(kind, body);
  assert.deepEqual(list.list().map((e) => e.user), ["bob", "erin"]);
  list.reset({ users: "not a list", anonymous: -3 });
  assert.deepEqual([list.list(), list.anonymous], [[], 0]);
  list.reset(null);
  assert.equal(list.anonymous, 0);
});

test("shoutbox: a user who is here is shown as text (presence data's name, else the id)", () => {
  const markup = "<img src=x onerror=alert(1)>";
  standInDocument.created = [];
  const item = presenceItem(standInDocument, { user: markup, data: null }, { me: markup });
  assert.equal(item.tagName, "LI");
  assert.equal(item.textContent, markup);
  assert.equal(item.dataset.user, markup);
  assert.equal(item.className, "user me");
  const named = presenceItem(standInDocument, { user: "u-1", data: { name: "<b>Bo</b>" } });
  assert.equal(named.textContent, "<b>Bo</b>");
  assert.equal(named.title, "u-1");
  assert.equal(named.className, "user");
  assert.deepEqual(standInDocument.created.map((e) => e.tagName), ["LI", "LI"]);
  assert.equal(displayName({ user: "u", data: { name: "  " } }), "u");
  assert.equal(displayName({ user: "u", data: { name: 5 } }), "u");
  assert.equal(displayName({ user: "u", data: "text" }), "u");
  assert.deepEqual([0, 1, 3].map(anonymousText), ["", "1 anonymous viewer", "3 anonymous viewers"]);
  assert.match(RECOVERY_NOTICE, /may be missing/);
});
