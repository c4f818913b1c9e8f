// web/perigee/stomp-codec.js: header escaping, frame encoding, the incremental parser.
//   node --test Tests/External/perigee_stomp_codec_test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  StompFrameParser, encodeFrame, escapeHeader, unescapeHeader, toBytes, toText,
} from "../../web/perigee/stomp-codec.js";

const text = (bytes) => new TextDecoder().decode(bytes);

test("escape and unescape header values", () => {
  const raw = "a:b\nc\\d\re";
  assert.equal(escapeHeader(raw, "1.2"), "a\\cb\\nc\\\\d\\re");
  assert.equal(unescapeHeader(escapeHeader(raw, "1.2"), "1.2"), raw);
  assert.equal(unescapeHeader("x\\cy", "1.0"), "x\\cy");
  assert.equal(unescapeHeader("x\\ty", "1.2"), "x\\ty");
});

test("escaping per version: \\r is an escape only in 1.2; 1.0 has no escapes", () => {
  assert.equal(escapeHeader("a\rb", "1.1"), "ab", "1.1 cannot carry CR: it is dropped");
  assert.equal(unescapeHeader("a\\rb", "1.1"), "a\\rb");
  assert.equal(unescapeHeader("a\\rb", "1.2"), "a\rb");
  assert.equal(escapeHeader("a:b\nc", "1.0"), "a:b c");
  assert.equal(unescapeHeader("trailing\\", "1.2"), "trailing\\");
});

test("parser: several frames, heart-beats, content-length with NUL, split input", () => {
  const p = new StompFrameParser();
  p.version = "1.2";
  const body = new Uint8Array([104, 0, 105]);
  const frame1 = encodeFrame("MESSAGE", { destination: "/topic/a", "content-length": 3 }, body, "1.2");
  const frame2 = new TextEncoder().encode("MESSAGE\r\nk\\c:v\\nw\r\nk\\c:second\r\n\r\nh\u00e9llo\0");
  const all = new Uint8Array([0x0a, ...frame1, 0x0d, 0x0a, ...frame2, 0x0a]);
  const events = [];
  for (let i = 0; i < all.length; i += 7) events.push(...p.push(all.subarray(i, i + 7)));
  assert.deepEqual(events.map((e) => e.type), ["heartbeat", "frame", "heartbeat", "frame", "heartbeat"]);
  assert.deepEqual([...events[1].frame.binaryBody], [104, 0, 105]);
  assert.equal(events[3].frame.headers["k:"], "v\nw", "unescaped, first occurrence wins");
  assert.deepEqual(events[3].frame.headerList, [["k:", "v\nw"], ["k:", "second"]]);
  assert.equal(events[3].frame.body, "h\u00e9llo");
});

test("parser: one byte at a time gives the same frames as all at once", () => {
  const stream = toBytes("\nSEND\ndestination:/q/\u00e9\n\nbody \u2713\0\r\nRECEIPT\nreceipt-id:7\n\n\0");
  const whole = new StompFrameParser().push(stream);
  const p = new StompFrameParser();
  const bytewise = [];
  for (const b of stream) bytewise.push(...p.push(new Uint8Array([b])));
  assert.equal(whole.length, 4);
  assert.deepEqual(bytewise.map((e) => [e.type, e.frame?.command, e.frame?.body]),
    whole.map((e) => [e.type, e.frame?.command, e.frame?.body]));
  assert.equal(whole[1].frame.headers.destination, "/q/\u00e9");
});

test("parser: CONNECTED headers are not unescaped; bad input throws", () => {
  const p = new StompFrameParser();
  p.version = "1.2";
  const [e] = p.push("CONNECTED\nserver:x\\cy\n\n\0");
  assert.equal(e.frame.headers.server, "x\\cy");
  assert.throws(() => p.push("connected\n\n\0"));
  assert.throws(() => new StompFrameParser().push("MESSAGE\nno-colon\n\n\0"));
  assert.throws(() => new StompFrameParser().push("MESSAGE\ncontent-length:x\n\n\0"), /content-length/);
  assert.throws(() => new StompFrameParser().push("MESSAGE\ncontent-length:1\n\nab\0"), /not followed by NUL/);
});

test("parser: frames over maxFrameSize throw, by content-length or by buffered bytes", () => {
  assert.throws(() => new StompFrameParser({ maxFrameSize: 10 }).push("MESSAGE\ncontent-length:11\n\n"), /larger than 10/);
  const p = new StompFrameParser({ maxFrameSize: 10 });
  assert.deepEqual(p.push("MESSAGE\n"), []);
  assert.throws(() => p.push("x-long:header\n"), /larger than 10/);
});

test("encodeFrame: escapes except in CONNECT, counts UTF-8 bytes, leaves out null headers", () => {
  assert.equal(text(encodeFrame("SEND", { "x-y": "a:b" }, "é", "1.2")), "SEND\nx-y:a\\cb\n\né\0");
  assert.equal(text(encodeFrame("CONNECT", { host: "h:1" }, null, "1.2")), "CONNECT\nhost:h:1\n\n\0");
  assert.equal(text(encodeFrame("SEND", { a: null, b: undefined, c: 1 }, "", null)), "SEND\nc:1\n\n\0");
  assert.equal(text(encodeFrame("SEND", { a: "x\ny" }, "", null)), "SEND\na:x y\n\n\0", "unescaped: no raw EOL");
});

test("toBytes and toText: strings, buffers and views", () => {
  assert.deepEqual([...toBytes("\u00e9")], [0xc3, 0xa9]);
  assert.deepEqual([...toBytes(new Uint16Array([0x0201]).subarray(0, 1))], [1, 2]);
  assert.deepEqual([...toBytes(new Uint8Array([1, 2]).buffer)], [1, 2]);
  assert.equal(toText(new Uint8Array([0xe2, 0x9c, 0x93])), "\u2713");
  assert.equal(toText("as is"), "as is");
});
