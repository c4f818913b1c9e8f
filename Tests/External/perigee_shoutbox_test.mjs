// web/shoutbox-view.js (what the shoutbox shows) against a stand-in document that has no HTML
// parser at all: any attempt to put markup into the page throws.
//   node --test Tests/External/perigee_shoutbox_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { ANONYMOUS, authorOf, pageOptions, shoutItem } from "../../web/shoutbox-view.js";

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
