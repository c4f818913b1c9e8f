"""STOMP clients for the external tests, one per Perigee transport, all with one interface.

    c = open_client("xhr-streaming", server, token="...", http_headers={"Cookie": "a=b"})
    f = c.connect({"Authorization": "Bearer ..."})     # CONNECTED or ERROR frame (or None)
    c.send_frame("SUBSCRIBE", {"id": "s1", "destination": "/topic/x", "receipt": "r1"})
    c.wait(lambda f: f.command == "RECEIPT")            # a Frame, or None at the deadline
    c.wait_closed(5)                                    # True once the transport is closed

Transports (`KINDS`): STOMP over TCP (`tcp`), STOMP over WebSocket at /stomp (`websocket`), and
SockJS 0.3 at /stomp: `sockjs-websocket` (/stomp/<s>/<id>/websocket, `a["..."]` frames),
`xhr-streaming`, `xhr-polling`, `eventsource`, `htmlfile` and `jsonp-polling` (raw HTTP with
`requests`; sending is an `xhr_send` POST of a JSON array of strings, or a form-encoded
`jsonp_send`). A `token` goes into the `?token=` query of every URL (not on TCP).

Each client has a reader thread that parses incoming STOMP by index (never re-splitting its
buffer), keeps every frame with the monotonic time it arrived, and notes when the transport
closed (`closed_at`). Nothing here sleeps for correctness: waits end on a condition or a deadline.
"""
import inspect
import json
import socket
import threading
import time
import urllib.parse
import uuid

import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

# websockets >= 16 warns when connect() is used outside `with` unless legacy=True is passed;
# these clients outlive any one block, so they ask for the plain connection where supported.
_WS_LEGACY = {"legacy": True} if "legacy" in inspect.signature(ws_connect).parameters else {}

KINDS = ("tcp", "websocket", "sockjs-websocket", "xhr-streaming", "xhr-polling", "eventsource", "htmlfile",
         "jsonp-polling")
TIMEOUT = 5.0

_UNESCAPE = {"n": "\n", "r": "\r", "c": ":", "\\": "\\"}


def _unescape(value):
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            out.append(_UNESCAPE.get(value[i + 1], "\\" + value[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _escape(value):
    return (str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            .replace(":", "\\c"))


class Frame:
    """One STOMP frame. `headers` keeps the first value of each name (STOMP 1.2 §Repeated
    Header Entries); `raw_headers` keeps every (name, value) pair exactly as received."""

    def __init__(self, command, raw_headers, body, at):
        self.command = command
        self.raw_headers = raw_headers
        self.headers = {}
        for name, value in raw_headers:
            self.headers.setdefault(name, value)
        self.body = body
        self.at = at  # time.monotonic() when it arrived

    def named(self, name):
        """Every value of headers whose name, lowercased and stripped, equals `name`."""
        return [v for n, v in self.raw_headers if n.strip().lower() == name]

    def __repr__(self):
        body = self.body.decode("utf-8", "replace")
        return f"{self.command} {self.raw_headers} body={body[:200]!r}"


def encode_frame(command, headers=None, body=b""):
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = [command]
    for name, value in (headers.items() if isinstance(headers, dict) else (headers or [])):
        # CONNECT headers are not escaped (STOMP 1.2 §Value Encoding).
        lines.append(f"{name}:{value}" if command in ("CONNECT", "STOMP") else f"{_escape(name)}:{_escape(value)}")
    return ("\n".join(lines) + "\n\n").encode("utf-8") + body + b"\x00"


class StompParser:
    """Incremental STOMP frame scanner: remembers how far it has looked, never re-reads."""

    def __init__(self):
        self.buf = bytearray()
        self.pos = 0          # start of the next frame
        self.scan = 0         # how far the search for the current frame's end has got
        self.head_end = None  # index just past the blank line of the current frame, once found
        self.length = None    # content-length of the current frame, if any

    def feed(self, data):
        self.buf += data
        frames = []
        while True:
            f = self._step()
            if f is None:
                break
            frames.append(f)
        if self.pos > 65536 and self.pos > len(self.buf) // 2:
            del self.buf[:self.pos]
            self.scan -= self.pos
            if self.head_end is not None:
                self.head_end -= self.pos
            self.pos = 0
        return frames

    def _step(self):
        buf = self.buf
        if self.head_end is None:
            # Heart-beats: EOLs between frames.
            while self.pos < len(buf) and buf[self.pos] in (0x0A, 0x0D):
                self.pos += 1
            self.scan = max(self.scan, self.pos)
            i = buf.find(b"\n\n", max(self.pos, self.scan - 1))
            j = buf.find(b"\n\r\n", max(self.pos, self.scan - 2))
            if i < 0 and j < 0:
                self.scan = len(buf)
                return None
            if j >= 0 and (i < 0 or j < i):
                self.head_end = j + 3
            else:
                self.head_end = i + 2
            head = bytes(buf[self.pos:self.head_end]).decode("utf-8", "replace").rstrip("\r\n")
            lines = [ln.rstrip("\r") for ln in head.split("\n")]
            self.command = lines[0]
            self.raw = []
            for ln in lines[1:]:
                name, _, value = ln.partition(":")
                self.raw.append((_unescape(name), _unescape(value)))
            self.length = None
            for name, value in self.raw:
                if name == "content-length":
                    try:
                        self.length = int(value)
                    except ValueError:
                        pass
                    break
            self.scan = self.head_end
        if self.length is not None:
            end = self.head_end + self.length
            if len(buf) <= end:
                return None
        else:
            end = buf.find(b"\x00", self.scan)
            if end < 0:
                self.scan = len(buf)
                return None
        body = bytes(buf[self.head_end:end])
        frame = Frame(self.command, self.raw, body, time.monotonic())
        self.pos = end + 1
        self.scan = self.pos
        self.head_end = None
        return frame


class StompClient:
    """Transport-independent part: frame log, waits, connect."""

    kind = "?"

    def __init__(self):
        self.frames = []
        self.cond = threading.Condition()
        self.closed_at = None
        self.close_reason = None
        self.parser = StompParser()
        self.send_errors = []

    # -- for transports
    def _on_bytes(self, data):
        frames = self.parser.feed(data)
        if frames:
            with self.cond:
                self.frames.extend(frames)
                self.cond.notify_all()

    def _on_closed(self, reason=None):
        with self.cond:
            if self.closed_at is None:
                self.closed_at = time.monotonic()
                self.close_reason = reason
            self.cond.notify_all()

    # -- for tests
    def send_frame(self, command, headers=None, body=b""):
        """Sends one frame; False (noted in the transcript) if the transport refused it, as a
        closed connection does: the test's waits then report what really arrived."""
        try:
            self._send_bytes(encode_frame(command, headers, body))
            return True
        except Exception as e:  # noqa: BLE001
            self.send_errors.append(f"{command}: {e!r}")
            return False

    def connect(self, headers=None, timeout=TIMEOUT):
        """Sends CONNECT (STOMP 1.2) and returns the CONNECTED or ERROR frame, or None."""
        h = {"accept-version": "1.0,1.1,1.2", "host": "perigee", "heart-beat": "0,0"}
        h.update(headers or {})
        self.send_frame("CONNECT", h)
        return self.wait(lambda f: f.command in ("CONNECTED", "ERROR"), timeout)

    def wait(self, pred, timeout=TIMEOUT):
        """The first frame (in arrival order) matching pred, or None at the deadline."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                for f in self.frames[seen:]:
                    if pred(f):
                        return f
                seen = len(self.frames)
                left = deadline - time.monotonic()
                if left <= 0 or (self.closed_at is not None and self._closed_long_enough()):
                    return None
                self.cond.wait(min(left, 0.2))

    def _closed_long_enough(self):
        # Frames can't arrive after the transport closed; a short grace covers reader hand-off.
        return time.monotonic() - self.closed_at > 0.3

    def wait_command(self, command, timeout=TIMEOUT, **headers):
        return self.wait(lambda f: f.command == command
                         and all(f.headers.get(k.replace("_", "-")) == v for k, v in headers.items()), timeout)

    def message(self, body, timeout=TIMEOUT):
        b = body.encode("utf-8") if isinstance(body, str) else body
        return self.wait(lambda f: f.command == "MESSAGE" and f.body == b, timeout)

    def messages(self):
        with self.cond:
            return [f for f in self.frames if f.command == "MESSAGE"]

    def wait_closed(self, timeout=TIMEOUT):
        with self.cond:
            return self.cond.wait_for(lambda: self.closed_at is not None, timeout)

    def is_closed(self):
        return self.closed_at is not None

    def subscribe(self, dest, sub_id=None, receipt=None, timeout=TIMEOUT, **extra):
        """SUBSCRIBE with a receipt; returns the RECEIPT or ERROR frame (or None)."""
        sub_id = sub_id or "s-" + uuid.uuid4().hex[:6]
        receipt = receipt or "r-" + uuid.uuid4().hex[:6]
        h = {"id": sub_id, "destination": dest, "ack": "auto", "receipt": receipt}
        h.update(extra)
        self.send_frame("SUBSCRIBE", h)
        return self.wait(lambda f: (f.command == "RECEIPT" and f.headers.get("receipt-id") == receipt)
                         or f.command == "ERROR", timeout)

    def send_raw(self, data):
        """Bytes as they are (several frames in one write, invalid UTF-8 on TCP)."""
        try:
            self._send_bytes(data)
            return True
        except Exception as e:  # noqa: BLE001
            self.send_errors.append(f"raw: {e!r}")
            return False

    def send(self, dest, body, receipt=None, headers=None):
        h = [("destination", dest), ("content-type", "text/plain")]
        if receipt:
            h.append(("receipt", receipt))
        h += list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        self.send_frame("SEND", h, body)

    def transcript(self):
        with self.cond:
            lines = [repr(f) for f in self.frames]
        lines += [f"send failed: {e}" for e in self.send_errors]
        lines.append(f"closed: {self.closed_at is not None} {self.close_reason or ''}")
        return "\n".join(lines)

    def close(self):
        raise NotImplementedError


class TcpClient(StompClient):
    kind = "tcp"

    def __init__(self, server, token=None, http_headers=None):
        super().__init__()
        self.sock = socket.create_connection(("127.0.0.1", server.stomp_port), timeout=TIMEOUT)
        self.sock.settimeout(None)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self._on_bytes(data)
        except OSError as e:
            self._on_closed(repr(e))
        self._on_closed("eof")

    def _send_bytes(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _query(token):
    return "" if token is None else "?" + requests.compat.urlencode({"token": token})


class WebSocketClient(StompClient):
    """STOMP over WebSocket (/stomp), one STOMP frame per WebSocket message (text)."""

    kind = "websocket"

    def __init__(self, server, token=None, http_headers=None):
        super().__init__()
        headers = dict(http_headers or {})
        origin = headers.pop("Origin", None)
        ua = headers.pop("User-Agent", "perigee-auth-test")
        self.ws = ws_connect(f"ws://127.0.0.1:{server.port}/stomp{_query(token)}", origin=origin,
                             additional_headers=headers, user_agent_header=ua, proxy=None,
                             subprotocols=["v12.stomp"], open_timeout=TIMEOUT, close_timeout=1,
                             ping_interval=None, compression=None, **_WS_LEGACY)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            for msg in self.ws:
                self._on_bytes(msg.encode("utf-8") if isinstance(msg, str) else msg)
            self._on_closed(f"close {self.ws.close_code} {self.ws.close_reason!r}")
        except ConnectionClosed as e:
            self._on_closed(repr(e))
        except Exception as e:  # noqa: BLE001 - any reader failure means closed
            self._on_closed(repr(e))

    def _send_bytes(self, data):
        self.ws.send(data.decode("utf-8"))

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass


class SockJSFrames:
    """Splits SockJS frames out of an HTTP body stream (each ends with a newline), by index."""

    def __init__(self, on_frame):
        self.buf = bytearray()
        self.pos = 0
        self.on_frame = on_frame

    def feed(self, data):
        self.buf += data
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i < 0:
                break
            line = bytes(self.buf[self.pos:i]).decode("utf-8", "replace")
            self.pos = i + 1
            self.on_frame(line)
        if self.pos > 65536:
            del self.buf[:self.pos]
            self.pos = 0


class SockJSBase(StompClient):
    """What every SockJS transport shares: `o`, `h`, `a[...]`, `c[...]` frames carry STOMP."""

    def __init__(self, server, token=None, http_headers=None, send_http_headers=None, send_token=True):
        super().__init__()
        self.base = f"http://127.0.0.1:{server.port}/stomp/{uuid.uuid4().int % 1000:03d}/{uuid.uuid4().hex}"
        self.query = _query(token)
        self.send_query = self.query if send_token else ""
        self.http_headers = dict(http_headers or {})
        self.http_headers.setdefault("User-Agent", "perigee-auth-test")
        # xhr_send requests may carry other headers than the request that opened the session
        self.send_http_headers = dict(send_http_headers) if send_http_headers is not None else self.http_headers
        self.http = requests.Session()
        self.http.trust_env = False
        self.opened = threading.Event()
        self.open_count = 0
        self.stop = False

    def _on_sockjs_frame(self, line):
        if not line:
            return
        kind = line[0]
        if kind == "o":
            self.open_count += 1
            if self.open_count > 1:
                # The session was gone and a new one was opened in its place: the old one closed.
                self._on_closed("session reopened by the server (old one gone)")
            self.opened.set()
        elif kind == "h":
            pass
        elif kind == "a":
            for text in json.loads(line[1:]):
                self._on_bytes(text.encode("utf-8"))
        elif kind == "c":
            self._on_closed("sockjs " + line)
        # The 2048-byte `hhh...h` prelude of xhr-streaming starts with 'h' too.

    callback = None   # the c= parameter of htmlfile and jsonp
    receive_path = ""

    def _receive_url(self, query):
        if self.callback is None:
            return self.base + self.receive_path + query
        return self.base + self.receive_path + (query + "&" if query else "?") + "c=" + self.callback

    def _on_line(self, line):
        self._on_sockjs_frame(line)

    def _send_bytes(self, data):
        r = self.http.post(self.base + "/xhr_send" + self.send_query, data=json.dumps([data.decode("utf-8")]),
                           headers={**self.send_http_headers, "Content-Type": "text/plain;charset=UTF-8"},
                           timeout=TIMEOUT)
        if r.status_code not in (200, 204):
            raise OSError(f"xhr_send answered {r.status_code} {r.text[:200]!r}")

    def close(self):
        self.stop = True
        self.http.close()


class XhrStreamingClient(SockJSBase):
    kind = "xhr-streaming"
    receive_path = "/xhr_streaming"
    receive_method = "POST"

    def __init__(self, server, token=None, http_headers=None, **kw):
        super().__init__(server, token, http_headers, **kw)
        self.resp = self.http.request(self.receive_method, self._receive_url(self.query), headers=self.http_headers,
                                      stream=True, timeout=(TIMEOUT, None))
        if self.resp.status_code != 200:
            raise OSError(f"{self.receive_path} answered {self.resp.status_code} {self.resp.text[:200]!r}")
        threading.Thread(target=self._read, daemon=True).start()
        if not self.opened.wait(TIMEOUT):
            raise OSError("xhr_streaming: no open frame")

    def _read(self):
        splitter = SockJSFrames(self._on_line)
        try:
            for chunk in self.resp.raw.stream(65536, decode_content=True):
                splitter.feed(chunk)
                if self.closed_at is not None:
                    break
        except Exception as e:  # noqa: BLE001
            self._on_closed(repr(e))
        self._on_closed(f"{self.receive_path} response ended")

    def close(self):
        # Shut the socket down first: closing the response alone waits for the reader thread's
        # pending read, which only ends with the server's next heart-beat (25 s).
        sock = getattr(getattr(self.resp.raw, "_connection", None), "sock", None)
        if sock is None:
            try:
                sock = self.resp.raw._fp.fp.raw._sock
            except AttributeError:
                sock = None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        super().close()
        try:
            self.resp.close()
        except Exception:  # noqa: BLE001
            pass


class XhrPollingClient(SockJSBase):
    kind = "xhr-polling"
    receive_path = "/xhr"
    receive_method = "POST"

    def __init__(self, server, token=None, http_headers=None, **kw):
        super().__init__(server, token, http_headers, **kw)
        self.first = self.http.request(self.receive_method, self._receive_url(self.query), headers=self.http_headers,
                                       timeout=TIMEOUT)
        if self.first.status_code != 200:
            raise OSError(f"{self.receive_path} answered {self.first.status_code} {self.first.text[:200]!r}")
        SockJSFrames(self._on_line).feed(self.first.content)
        if not self.opened.is_set():
            raise OSError(f"xhr: no open frame: {self.first.text[:200]!r}")
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self):
        while not self.stop and self.closed_at is None:
            try:
                r = self.http.request(self.receive_method, self._receive_url(self.send_query),
                                      headers=self.http_headers, timeout=30)
            except Exception as e:  # noqa: BLE001
                self._on_closed(repr(e))
                return
            if r.status_code != 200:
                self._on_closed(f"xhr poll answered {r.status_code}")
                return
            SockJSFrames(self._on_line).feed(r.content)


class EventSourceClient(XhrStreamingClient):
    """SockJS eventsource: GET /eventsource, each frame an SSE event `data: <frame>` (with `%`
    escaped for sockjs-client's decodeURI)."""

    kind = "eventsource"
    receive_path = "/eventsource"
    receive_method = "GET"

    def _on_line(self, line):
        line = line.rstrip("\r")
        if line.startswith("data: "):
            self._on_sockjs_frame(urllib.parse.unquote(line[6:]))


class HtmlFileClient(XhrStreamingClient):
    """SockJS htmlfile: GET /htmlfile?c=CB, a page whose script chunks each call CB's p() with a
    JSON string holding one frame."""

    kind = "htmlfile"
    receive_path = "/htmlfile"
    receive_method = "GET"
    callback = "cb"

    def _on_line(self, line):
        if line.startswith("p(") and line.endswith(");"):
            self._on_sockjs_frame(json.loads(line[2:-2]))


class JsonpPollingClient(XhrPollingClient):
    """SockJS jsonp-polling: GET /jsonp?c=CB answers `/**/CB("<frame>");`; sends are
    form-encoded POSTs of `d=<JSON array>` to /jsonp_send."""

    kind = "jsonp-polling"
    receive_path = "/jsonp"
    receive_method = "GET"
    callback = "cb"

    def _on_line(self, line):
        line = line.rstrip("\r")
        prefix = f"/**/{self.callback}("
        if line.startswith(prefix) and line.endswith(");"):
            self._on_sockjs_frame(json.loads(line[len(prefix):-2]))

    def _send_bytes(self, data):
        r = self.http.post(self.base + "/jsonp_send" + self.send_query,
                           data={"d": json.dumps([data.decode("utf-8")])},
                           headers=self.send_http_headers, timeout=TIMEOUT)
        if r.status_code != 200:
            raise OSError(f"jsonp_send answered {r.status_code} {r.text[:200]!r}")


class SockJSWebSocketClient(SockJSBase):
    kind = "sockjs-websocket"

    def __init__(self, server, token=None, http_headers=None):
        super().__init__(server, token, http_headers)
        headers = dict(self.http_headers)
        origin = headers.pop("Origin", None)
        ua = headers.pop("User-Agent")
        url = self.base.replace("http://", "ws://") + "/websocket" + self.query
        self.ws = ws_connect(url, origin=origin, additional_headers=headers, user_agent_header=ua,
                             proxy=None, open_timeout=TIMEOUT, close_timeout=1, ping_interval=None,
                             compression=None, **_WS_LEGACY)
        threading.Thread(target=self._read, daemon=True).start()
        if not self.opened.wait(TIMEOUT):
            raise OSError("sockjs websocket: no open frame")

    def _read(self):
        try:
            for msg in self.ws:
                self._on_sockjs_frame(msg if isinstance(msg, str) else msg.decode("utf-8", "replace"))
            self._on_closed(f"close {self.ws.close_code}")
        except Exception as e:  # noqa: BLE001
            self._on_closed(repr(e))

    def _send_bytes(self, data):
        self.ws.send(json.dumps([data.decode("utf-8")]))

    def close(self):
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass


CLIENTS = {
    "tcp": TcpClient,
    "websocket": WebSocketClient,
    "sockjs-websocket": SockJSWebSocketClient,
    "xhr-streaming": XhrStreamingClient,
    "xhr-polling": XhrPollingClient,
    "eventsource": EventSourceClient,
    "htmlfile": HtmlFileClient,
    "jsonp-polling": JsonpPollingClient,
}


def open_client(kind, server, token=None, http_headers=None, **kw):
    """kw, for xhr-streaming and xhr-polling only: send_http_headers (headers of the xhr_send
    requests, when they should differ from the opening request's), send_token=False (the
    ?token= only on the requests that receive)."""
    return CLIENTS[kind](server, token=token, http_headers=http_headers, **kw)
