/**
 * The STOMP 1.0/1.1/1.2 wire format, with no transport and no session: header escaping
 * (STOMP 1.2 "Value Encoding"), encoding one frame to bytes, and an incremental parser that
 * turns a byte stream into frames and heart-beats.
 */

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8");

/** WebSocket subprotocol names for each STOMP version (as registered with IANA). */
export const STOMP_SUBPROTOCOLS = { "1.2": "v12.stomp", "1.1": "v11.stomp", "1.0": "v10.stomp" };

/** Decode a 1.1/1.2 header value; `\r` is an escape only in 1.2. Unknown escapes are kept. */
export function unescapeHeader(value, version) {
  if (version === "1.0" || value.indexOf("\\") < 0) return value;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c !== "\\" || i + 1 >= value.length) { out += c; continue; }
    const n = value[i + 1];
    if (n === "n") out += "\n";
    else if (n === "c") out += ":";
    else if (n === "\\") out += "\\";
    else if (n === "r" && version === "1.2") out += "\r";
    else { out += c + n; }
    i++;
  }
  return out;
}

/** Encode a header name or value for 1.1/1.2. */
export function escapeHeader(value, version) {
  const text = String(value);
  if (version === "1.0") return text.replace(/[\r\n]/g, " ");
  let out = text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/:/g, "\\c");
  out = version === "1.2" ? out.replace(/\r/g, "\\r") : out.replace(/\r/g, "");
  return out;
}

/** The bytes of a string (UTF-8), an ArrayBuffer or a typed array view. */
export function toBytes(data) {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return encoder.encode(String(data));
}

/** The UTF-8 decoding of `data` (bytes, or a string, returned as is). */
export function toText(data) {
  return typeof data === "string" ? data : decoder.decode(toBytes(data));
}

/**
 * Serialise one frame to bytes. `headers` is a plain object; a `null`/`undefined` value is
 * left out. `version` decides escaping (pass null for CONNECT / before negotiation).
 */
export function encodeFrame(command, headers, body, version) {
  const bodyBytes = body === undefined || body === null ? new Uint8Array(0) : toBytes(body);
  const escape = version && command !== "CONNECT" && command !== "STOMP";
  let head = command + "\n";
  for (const [name, value] of Object.entries(headers || {})) {
    if (value === undefined || value === null) continue;
    head += (escape ? escapeHeader(name, version) : name) + ":" +
      (escape ? escapeHeader(value, version) : String(value).replace(/[\r\n]/g, " ")) + "\n";
  }
  head += "\n";
  const headBytes = encoder.encode(head);
  const out = new Uint8Array(headBytes.length + bodyBytes.length + 1);
  out.set(headBytes, 0);
  out.set(bodyBytes, headBytes.length);
  out[out.length - 1] = NUL;
  return out;
}

/**
 * Incremental STOMP frame parser over bytes. `push(chunk)` returns the events found so far:
 * `{type: "heartbeat"}` for each EOL between frames, `{type: "frame", frame}` for each
 * complete frame. A partial frame is kept until the rest arrives. Malformed input throws.
 */
export class StompFrameParser {
  constructor({ maxFrameSize = 16 * 1024 * 1024 } = {}) {
    this.buffer = new Uint8Array(0);
    this.version = null; // set by the client once negotiated; controls unescaping
    this.maxFrameSize = maxFrameSize;
  }

  push(chunk) {
    const bytes = toBytes(chunk);
    if (this.buffer.length === 0) {
      this.buffer = bytes;
    } else {
      const joined = new Uint8Array(this.buffer.length + bytes.length);
      joined.set(this.buffer, 0);
      joined.set(bytes, this.buffer.length);
      this.buffer = joined;
    }
    const events = [];
    let pos = 0;
    for (;;) {
      const buf = this.buffer;
      // EOLs between frames are heart-beats.
      if (pos < buf.length && buf[pos] === LF) { events.push({ type: "heartbeat" }); pos++; continue; }
      if (pos + 1 < buf.length && buf[pos] === CR && buf[pos + 1] === LF) {
        events.push({ type: "heartbeat" }); pos += 2; continue;
      }
      if (pos >= buf.length) break;
      if (buf[pos] === CR) break; // a lone CR at the end: wait for its LF
      const result = this.parseFrame(buf, pos);
      if (result === null) break;
      events.push({ type: "frame", frame: result.frame });
      pos = result.next;
    }
    this.buffer = this.buffer.subarray(pos);
    if (this.buffer.length > this.maxFrameSize) throw new Error("STOMP frame larger than " + this.maxFrameSize + " bytes");
    return events;
  }

  /** Parse one frame at `start`; null when more bytes are needed. */
  parseFrame(buf, start) {
    let pos = start;
    const readLine = () => {
      const end = buf.indexOf(LF, pos);
      if (end < 0) return null;
      let stop = end;
      if (stop > pos && buf[stop - 1] === CR) stop--;
      const line = decoder.decode(buf.subarray(pos, stop));
      pos = end + 1;
      return line;
    };
    const command = readLine();
    if (command === null) return null;
    if (!/^[A-Z]+$/.test(command)) throw new Error("malformed STOMP command line: " + JSON.stringify(command.slice(0, 40)));
    const unescape = command !== "CONNECTED";
    const headers = {};
    const headerList = [];
    for (;;) {
      const line = readLine();
      if (line === null) return null;
      if (line === "") break;
      const colon = line.indexOf(":");
      if (colon < 0) throw new Error("malformed STOMP header line: " + JSON.stringify(line.slice(0, 40)));
      const name = unescape ? unescapeHeader(line.slice(0, colon), this.version) : line.slice(0, colon);
      const value = unescape ? unescapeHeader(line.slice(colon + 1), this.version) : line.slice(colon + 1);
      headerList.push([name, value]);
      if (!(name in headers)) headers[name] = value;
    }
    let body;
    if (headers["content-length"] !== undefined && headers["content-length"] !== "") {
      const length = Number(headers["content-length"]);
      if (!Number.isInteger(length) || length < 0) throw new Error("bad content-length: " + headers["content-length"]);
      if (length > this.maxFrameSize) throw new Error("STOMP frame larger than " + this.maxFrameSize + " bytes");
      if (pos + length + 1 > buf.length) return null;
      if (buf[pos + length] !== NUL) throw new Error("STOMP frame body not followed by NUL");
      body = buf.slice(pos, pos + length);
      pos += length + 1;
    } else {
      const end = buf.indexOf(NUL, pos);
      if (end < 0) return null;
      body = buf.slice(pos, end);
      pos = end + 1;
    }
    return { frame: { command, headers, headerList, binaryBody: body, get body() { return decoder.decode(body); } }, next: pos };
  }
}
