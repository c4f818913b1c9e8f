#!/usr/bin/env python3
"""STOMP conformance with third-party clients: stomp.py over TCP and WebSocket, and raw frames.

stomp.py (9.x) is the client: `stomp.Connection10/11/12` over raw TCP (--stomp-port) and
`stomp.WSStompConnection` over WebSocket (/stomp). Checked: CONNECTED headers, subscribe /
send / MESSAGE headers, receipts, header escaping, ack/nack with `client-individual` on a
queue (NACK redelivers, a consumer's unacked messages go to another consumer when it leaves),
transactions (commit delivers, abort drops), unsubscribe, delivery across transports, an HTTP
publish reaching both, ERROR + close on a bad frame, the access policy for anonymous clients,
and heart-beats. Then the Python `websockets` client types raw STOMP frames over /stomp as a
wscat user would.

Starts the server itself (perigee_server.py: PERIGEE_BIN / PERIGEE_CMD with {port},
{stomp_port} and {config}) with a configuration file (written to --out) that holds an API key
and 1-second heart-beats. Clients present the key as their CONNECT passcode, as a backend would,
except where anonymous clients are tested. Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
import traceback
import uuid

import requests
import stomp
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import PerigeeServer, Results, ServerError  # noqa: E402

TIMEOUT = 5.0
QUIET = 0.7  # how long "nothing arrives" is watched for
API_KEY = "stomp-py-" + uuid.uuid4().hex  # written to the server's configuration file
HEARTBEAT_MS = 1000  # the server's heart-beat offer in that file (send and receive)
HEARTBEAT_TOLERANCE = 2.0
CONFIG = f"""# written by stomp_py_test.py
api_keys:
  stomp-py-test: "{API_KEY}"
heartbeat:
  send_ms: {HEARTBEAT_MS}
  receive_ms: {HEARTBEAT_MS}
  tolerance: {HEARTBEAT_TOLERANCE}
"""


class Collector(stomp.ConnectionListener):
    """Keeps every frame stomp.py hands to listeners; wait() blocks until one matches."""

    def __init__(self):
        self.frames = []  # (kind, frame)
        self.cond = threading.Condition()
        self.disconnected = False

    def _add(self, kind, frame):
        with self.cond:
            self.frames.append((kind, frame))
            self.cond.notify_all()

    def on_connected(self, frame): self._add("CONNECTED", frame)
    def on_message(self, frame): self._add("MESSAGE", frame)
    def on_receipt(self, frame): self._add("RECEIPT", frame)
    def on_error(self, frame): self._add("ERROR", frame)

    def on_disconnected(self):
        with self.cond:
            self.disconnected = True
            self.cond.notify_all()

    def find(self, kind, pred=lambda f: True):
        return [f for k, f in self.frames if k == kind and pred(f)]

    def wait(self, kind, pred=lambda f: True, timeout=TIMEOUT, count=1):
        """The first `count` frames of `kind` matching `pred`, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = self.find(kind, pred)
                if len(found) >= count:
                    return found[:count] if count > 1 else found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def messages(self, dest=None, body=None):
        return self.find("MESSAGE", lambda f: (dest is None or f.headers.get("destination") == dest)
                         and (body is None or f.body == body))

    def wait_message(self, dest, body, timeout=TIMEOUT):
        return self.wait("MESSAGE", lambda f: f.headers.get("destination") == dest and f.body == body, timeout)

    def wait_disconnected(self, timeout=TIMEOUT):
        with self.cond:
            return self.cond.wait_for(lambda: self.disconnected, timeout)


class Client:
    """A connected stomp.py connection plus its collector."""

    def __init__(self, kind, server, version="1.2", passcode=API_KEY):
        self.kind = kind
        addr = [("127.0.0.1", server.stomp_port if kind == "tcp" else server.port)]
        if kind == "tcp":
            cls = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}[version]
            # Connection10 has no vhost parameter; it sends no `host` header.
            self.conn = cls(addr, vhost="/") if version != "1.0" else cls(addr)
        else:
            self.conn = stomp.WSStompConnection(addr, ws_path="/stomp", vhost="/")
        self.col = Collector()
        self.conn.set_listener("collector", self.col)
        if passcode is None:
            self.conn.connect(wait=True)
        else:
            self.conn.connect(username="stomp-py-test", passcode=passcode, wait=True)
        self.connected = self.col.wait("CONNECTED", timeout=TIMEOUT)

    def close(self):
        try:
            if self.conn.is_connected():
                self.conn.disconnect()
        except Exception:
            pass


def uid():
    return uuid.uuid4().hex[:10]


def show(frame):
    if frame is None:
        return "None"
    return f"{frame.cmd} {dict(frame.headers)} body={frame.body!r}"


def frames(col):
    """What a collector saw, one frame per line, for failure details."""
    return "\n".join(show(f) for _, f in col.frames) or "(no frames)"


def check_connect(res, c, label, version="1.2"):
    f = c.connected
    h = f.headers if f else {}
    res.check(f"{label}: CONNECTED with version {version}, session, server, heart-beat",
              f is not None and h.get("version", "1.0") == version and h.get("session")
              and h.get("server") and (version == "1.0" or "heart-beat" in h),
              show(f))


def test_basic(res, server, kind):
    label = f"{kind} 1.2"
    c = Client(kind, server)
    try:
        check_connect(res, c, label)
        dest = f"/topic/basic.{kind}.{uid()}"
        c.conn.subscribe(dest, id="s1", ack="auto", headers={"receipt": "sub-1"})
        res.check(f"{label}: SUBSCRIBE with receipt gets RECEIPT",
                  c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "sub-1") is not None,
                  frames(c.col))
        body = "h\u00e9llo \u2713 " + uid()
        c.conn.send(dest, body, content_type="text/plain;charset=utf-8", receipt="send-1",
                    headers={"x-odd": "a:b\nc\\d"})
        res.check(f"{label}: SEND with receipt gets RECEIPT",
                  c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "send-1") is not None,
                  frames(c.col))
        m = c.col.wait_message(dest, body)
        h = m.headers if m else {}
        res.check(f"{label}: MESSAGE has destination, message-id, subscription, content-type, content-length",
                  m is not None and h.get("subscription") == "s1" and h.get("message-id")
                  and h.get("content-type") == "text/plain;charset=utf-8"
                  and h.get("content-length") == str(len(body.encode("utf-8"))),
                  show(m) + "\n" + frames(c.col))
        res.check(f"{label}: escaped header value round-trips (a:b\\nc\\\\d)",
                  m is not None and h.get("x-odd") == "a:b\nc\\d", show(m))

        c.conn.unsubscribe(id="s1", headers={"receipt": "unsub-1"})
        c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "unsub-1")
        c.conn.send(dest, "after unsubscribe", receipt="send-2")
        c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "send-2")
        res.check(f"{label}: no MESSAGE after UNSUBSCRIBE",
                  c.col.wait_message(dest, "after unsubscribe", timeout=QUIET) is None)

        c.conn.disconnect(receipt="bye")
        res.check(f"{label}: DISCONNECT with receipt gets RECEIPT",
                  c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "bye") is not None,
                  frames(c.col))
    finally:
        c.close()


def test_versions(res, server):
    """STOMP 1.0 and 1.1 over TCP: subscribe, send, client-individual ack in each version's form."""
    for version in ("1.0", "1.1"):
        label = f"tcp {version}"
        c = Client("tcp", server, version)
        try:
            check_connect(res, c, label, version)
            dest = f"/queue/v{version.replace('.', '')}.{uid()}"
            if version == "1.0":
                c.conn.subscribe(dest, id="s1", ack="client")
            else:
                c.conn.subscribe(dest, id="s1", ack="client-individual")
            c.conn.send(dest, "one")
            m = c.col.wait_message(dest, "one")
            res.check(f"{label}: MESSAGE arrives", m is not None, frames(c.col))
            if m is None:
                continue
            if version == "1.0":
                c.conn.ack(m.headers["message-id"], receipt="ack-1")
            else:
                c.conn.ack(m.headers["message-id"], "s1", receipt="ack-1")
            r = c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "ack-1")
            res.check(f"{label}: ACK (message-id form) accepted with RECEIPT",
                      r is not None and not c.col.find("ERROR"), frames(c.col))
        finally:
            c.close()


def test_ack_nack(res, server, kind):
    label = f"{kind} ack/nack"
    dest = f"/queue/work.{kind}.{uid()}"
    c1 = Client(kind, server)
    c2 = None
    try:
        c1.conn.subscribe(dest, id="q1", ack="client-individual")
        for body in ("job-1", "job-2", "job-3"):
            c1.conn.send(dest, body)
        got = c1.col.wait("MESSAGE", lambda f: f.headers.get("destination") == dest, count=3)
        res.check(f"{label}: three queued messages arrive with an ack header",
                  got is not None and all(f.headers.get("ack") for f in got), frames(c1.col))
        if got is None:
            return
        by_body = {f.body: f for f in got}
        c1.conn.ack(by_body["job-1"].headers["ack"], receipt="ack-1")
        res.check(f"{label}: ACK gets RECEIPT",
                  c1.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "ack-1") is not None,
                  frames(c1.col))
        c1.conn.nack(by_body["job-2"].headers["ack"], receipt="nack-1")
        res.check(f"{label}: NACK gets RECEIPT",
                  c1.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "nack-1") is not None,
                  frames(c1.col))
        again = c1.col.wait("MESSAGE", lambda f: f.body == "job-2", count=2)
        res.check(f"{label}: a NACKed queue message is delivered again",
                  again is not None, repr([f.body for f in c1.col.messages(dest)]))
        res.check(f"{label}: an ACKed message is not delivered again",
                  len(c1.col.messages(dest, "job-1")) == 1, repr([f.body for f in c1.col.messages(dest)]))
        if again is not None:
            c1.conn.ack(again[1].headers["ack"])
        # job-3 stays unacknowledged: when c1 leaves, another consumer gets it.
        c2 = Client(kind, server)
        c2.conn.subscribe(dest, id="q2", ack="client-individual")
        time.sleep(0.2)
        c1.conn.disconnect()
        m = c2.col.wait_message(dest, "job-3")
        res.check(f"{label}: an unacknowledged message goes to another consumer when its consumer leaves",
                  m is not None, repr([f.body for f in c2.col.messages()]))
        res.check(f"{label}: messages acknowledged before leaving are not redelivered",
                  c2.col.wait("MESSAGE", lambda f: f.body in ("job-1", "job-2"), timeout=QUIET) is None,
                  repr([f.body for f in c2.col.messages()]))
    finally:
        c1.close()
        if c2:
            c2.close()


def test_transactions(res, server, kind):
    label = f"{kind} transaction"
    dest = f"/topic/tx.{kind}.{uid()}"
    c = Client(kind, server)
    try:
        c.conn.subscribe(dest, id="t1")
        time.sleep(0.1)
        tx = c.conn.begin()
        c.conn.send(dest, "in tx 1", transaction=tx)
        c.conn.send(dest, "in tx 2", transaction=tx)
        res.check(f"{label}: nothing delivered before COMMIT",
                  c.col.wait("MESSAGE", timeout=QUIET) is None, frames(c.col))
        c.conn.commit(tx, headers={"receipt": "commit-1"})
        c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "commit-1")
        got = c.col.wait("MESSAGE", count=2)
        res.check(f"{label}: both sends delivered, in order, after COMMIT",
                  got is not None and [f.body for f in got] == ["in tx 1", "in tx 2"],
                  repr([f.body for f in c.col.messages()]))
        tx2 = c.conn.begin()
        c.conn.send(dest, "aborted", transaction=tx2)
        c.conn.abort(tx2, headers={"receipt": "abort-1"})
        r = c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "abort-1")
        res.check(f"{label}: ABORT gets RECEIPT and drops the send",
                  r is not None and c.col.wait_message(dest, "aborted", timeout=QUIET) is None,
                  frames(c.col))
    finally:
        c.close()


def test_cross_transport(res, server):
    tcp = Client("tcp", server)
    ws = Client("ws", server)
    try:
        dest = f"/topic/cross.{uid()}"
        tcp.conn.subscribe(dest, id="a")
        ws.conn.subscribe(dest, id="b", headers={"receipt": "r"})
        ws.col.wait("RECEIPT")
        time.sleep(0.1)
        tcp.conn.send(dest, "tcp to ws")
        res.check("a SEND over TCP reaches a WebSocket subscriber",
                  ws.col.wait_message(dest, "tcp to ws") is not None, frames(ws.col))
        ws.conn.send(dest, "ws to tcp")
        res.check("a SEND over WebSocket reaches a TCP subscriber",
                  tcp.col.wait_message(dest, "ws to tcp") is not None, frames(tcp.col))

        body = json.dumps({"hello": "http", "id": uid()})
        # With API keys configured, the publish API wants one even from loopback.
        r = requests.post(f"{server.http_url}/api/publish{dest}", data="no key", timeout=10)
        res.check("HTTP publish without Authorization is refused with 401 once API keys exist",
                  r.status_code == 401, f"status {r.status_code}, body {r.text[:300]!r}")
        r = requests.post(f"{server.http_url}/api/publish{dest}", data="wrong key", timeout=10,
                          headers={"Authorization": "Bearer not-the-key"})
        res.check("HTTP publish with a wrong key is refused with 401 or 403",
                  r.status_code in (401, 403), f"status {r.status_code}, body {r.text[:300]!r}")
        r = requests.post(f"{server.http_url}/api/publish{dest}", data=body, timeout=10,
                          headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"})
        try:
            info = r.json()
        except ValueError:
            info = None
        res.check("HTTP publish answers 202 with message-id and delivered == 2",
                  r.status_code == 202 and isinstance(info, dict) and info.get("message-id")
                  and info.get("delivered") == 2,
                  f"status {r.status_code}, body {r.text[:300]!r}")
        mt = tcp.col.wait_message(dest, body)
        mw = ws.col.wait_message(dest, body)
        res.check("the HTTP publish reaches the TCP and the WebSocket subscriber",
                  mt is not None and mw is not None, f"tcp={show(mt)}\nws={show(mw)}")
        res.check("the HTTP publish keeps its Content-Type and message-id",
                  mt is not None and mt.headers.get("content-type") == "application/json"
                  and isinstance(info, dict) and mt.headers.get("message-id") == info.get("message-id"),
                  f"{show(mt)}\nresponse {info!r}")
    finally:
        tcp.close()
        ws.close()


def test_error(res, server, kind):
    """A SEND without destination: ERROR with a message header, then the server closes."""
    c = Client(kind, server)
    try:
        c.conn.send_frame("SEND", {"receipt": "bad-1"}, "no destination")
        e = c.col.wait("ERROR")
        res.check(f"{kind}: SEND without destination gets ERROR with a message header",
                  e is not None and e.headers.get("message"), frames(c.col))
        res.check(f"{kind}: the server closes the connection after ERROR",
                  c.col.wait_disconnected(), "still connected")
    finally:
        c.close()


def test_access(res, server):
    """Anonymous clients (no passcode): the standard policy lets them read topics and shout
    to /topic/shouts only; a wrong passcode is refused."""
    for kind in ("tcp", "ws"):
        label = f"{kind} anonymous"
        c = Client(kind, server, passcode=None)
        try:
            res.check(f"{label}: CONNECT without credentials is accepted", c.connected is not None, frames(c.col))
            body = f"anonymous shout {uid()}"
            c.conn.subscribe("/topic/shouts", id="s")
            c.conn.send("/topic/shouts", body, receipt="shout")
            res.check(f"{label}: may SEND to /topic/shouts and receives it",
                      c.col.wait("RECEIPT", lambda f: f.headers.get("receipt-id") == "shout") is not None
                      and c.col.wait_message("/topic/shouts", body) is not None, frames(c.col))
            c.conn.send(f"/topic/other.{uid()}", "not allowed")
            e = c.col.wait("ERROR")
            res.check(f"{label}: SEND elsewhere gets ERROR 'permission denied' and the connection closes",
                      e is not None and e.headers.get("message") == "permission denied"
                      and c.col.wait_disconnected(), frames(c.col))
        finally:
            c.close()
        c = Client(kind, server, passcode=None)
        try:
            c.conn.subscribe(f"/queue/private.{uid()}", id="q")
            e = c.col.wait("ERROR")
            res.check(f"{label}: SUBSCRIBE to a queue gets ERROR 'permission denied'",
                      e is not None and e.headers.get("message") == "permission denied", frames(c.col))
        finally:
            c.close()
    # A wrong passcode: typed raw, since stomp.py waits forever for a CONNECTED that never comes.
    try:
        with socket.create_connection(("127.0.0.1", server.stomp_port), timeout=TIMEOUT) as sock:
            sock.sendall(b"CONNECT\naccept-version:1.2\nhost:x\nlogin:who\npasscode:wrong-secret\n\n\x00")
            data = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        res.check("tcp: a wrong passcode gets ERROR (not CONNECTED) and the connection closes",
                  data.startswith(b"ERROR\n") and b"\nmessage:" in data, repr(data[:300]))
    except OSError as e:
        res.check("tcp: a wrong passcode gets ERROR", False, repr(e))


def test_raw_websocket(res, server):
    """Raw frames typed over /stomp with the `websockets` client, as a wscat user would."""
    url = f"ws://127.0.0.1:{server.port}/stomp"
    dest = f"/topic/raw.{uid()}"

    def recv_frame(ws, timeout=TIMEOUT):
        """Next message that is not a heart-beat EOL."""
        deadline = time.monotonic() + timeout
        while True:
            msg = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(msg, bytes):
                msg = msg.decode("utf-8", "replace")
            if msg.strip("\r\n") != "":
                return msg

    for proto, version in (("v12.stomp", "1.2"), ("v11.stomp", "1.1"), ("v10.stomp", "1.0")):
        label = f"raw websocket {proto}"
        try:
            with ws_connect(url, subprotocols=[proto], open_timeout=TIMEOUT) as ws:
                res.check(f"{label}: server selects subprotocol {proto}", ws.subprotocol == proto,
                          f"selected {ws.subprotocol!r}")
                accept = "" if version == "1.0" else f"accept-version:{version}\nhost:127.0.0.1\n"
                ws.send(f"CONNECT\n{accept}passcode:{API_KEY}\nheart-beat:0,0\n\n\x00")
                connected = recv_frame(ws)
                want = f"version:{version}" if version != "1.0" else ""
                res.check(f"{label}: CONNECT -> CONNECTED {want}".rstrip(),
                          connected.startswith("CONNECTED\n") and (not want or f"\n{want}\n" in connected),
                          repr(connected))
                ws.send(f"SUBSCRIBE\nid:0\ndestination:{dest}\nreceipt:sub\n\n\x00")
                receipt = recv_frame(ws)
                res.check(f"{label}: SUBSCRIBE -> RECEIPT", receipt.startswith("RECEIPT\nreceipt-id:sub\n"),
                          repr(receipt))
                ws.send(f"SEND\ndestination:{dest}\ncontent-type:text/plain\n\nhello from {proto}\x00")
                msg = recv_frame(ws)
                head, _, body = msg.partition("\n\n")
                lines = head.split("\n")
                res.check(f"{label}: SEND -> MESSAGE with the body and headers",
                          lines[0] == "MESSAGE" and f"destination:{dest}" in lines and "subscription:0" in lines
                          and any(line.startswith("message-id:") for line in lines)
                          and body == f"hello from {proto}\x00",
                          repr(msg))
        except (OSError, ConnectionClosed, TimeoutError) as e:
            res.check(f"{label}: session", False, repr(e))

    # Two frames in one WebSocket message, then a heart-beat EOL, then a malformed frame.
    label = "raw websocket"
    try:
        with ws_connect(url, subprotocols=["v12.stomp"], open_timeout=TIMEOUT) as ws:
            ws.send(f"CONNECT\naccept-version:1.2\nhost:127.0.0.1\npasscode:{API_KEY}\n\n\x00")
            recv_frame(ws)
            ws.send(f"SUBSCRIBE\nid:x\ndestination:{dest}\n\n\x00SEND\ndestination:{dest}\n\ntwo in one\x00")
            msg = recv_frame(ws)
            res.check(f"{label}: two frames in one message are both handled",
                      msg.startswith("MESSAGE\n") and msg.endswith("\n\ntwo in one\x00"), repr(msg))
            ws.send("\n")
            ws.send("BOGUS\n\n\x00")
            err = recv_frame(ws)
            res.check(f"{label}: an unknown command gets ERROR with a message header",
                      err.startswith("ERROR\n") and "\nmessage:" in err.partition("\n\n")[0] + "\n",
                      repr(err))
            try:
                while True:
                    ws.recv(timeout=TIMEOUT)
            except ConnectionClosed:
                res.check(f"{label}: the server closes after ERROR", True)
            except TimeoutError:
                res.check(f"{label}: the server closes after ERROR", False, "still open")
    except (OSError, ConnectionClosed, TimeoutError) as e:
        res.check(f"{label}: session", False, repr(e))


class HeartbeatProbe(threading.Thread):
    """Raw WebSocket session with `heart-beat:CX,CY` (CX = HEARTBEAT_MS: the client promises a
    beat that often; CY = HEARTBEAT_MS / 2: it wants one that often) that then stays silent.
    STOMP 1.2 "Heart-beating": the server must send something at least every max(sx, CY) ms,
    and may drop the client after max(sy, CX) ms (times its tolerance) of silence.
    Runs in the background while the other steps run."""

    CX = HEARTBEAT_MS
    CY = HEARTBEAT_MS // 2

    def __init__(self, server, limit=15.0):
        super().__init__(daemon=True)
        self.url = f"ws://127.0.0.1:{server.port}/stomp"
        self.limit = limit
        self.connected = None
        self.beats = []      # seconds after CONNECTED at which an EOL arrived
        self.closed_at = None
        self.error = None
        self.other = []

    def run(self):
        try:
            with ws_connect(self.url, subprotocols=["v12.stomp"], open_timeout=TIMEOUT) as ws:
                ws.send(f"CONNECT\naccept-version:1.2\nhost:127.0.0.1\nheart-beat:{self.CX},{self.CY}\n\n\x00")
                self.connected = ws.recv(timeout=TIMEOUT)
                start = time.monotonic()
                while time.monotonic() - start < self.limit:
                    try:
                        msg = ws.recv(timeout=self.limit)
                    except ConnectionClosed:
                        self.closed_at = time.monotonic() - start
                        return
                    if isinstance(msg, bytes):
                        msg = msg.decode("utf-8", "replace")
                    if msg.strip("\r\n") == "":
                        self.beats.append(round(time.monotonic() - start, 1))
                    else:
                        self.other.append(msg)
        except Exception as e:  # reported by report()
            self.error = repr(e)

    def report(self, res):
        self.join(self.limit + 10)
        c = self.connected or ""
        header = next((line[len("heart-beat:"):] for line in c.split("\n") if line.startswith("heart-beat:")), None)
        try:
            sx, sy = (int(v) for v in header.split(","))
        except (AttributeError, ValueError):
            sx = sy = None
        res.check("heart-beat: CONNECTED carries a heart-beat header the client can use",
                  sx is not None and sx > 0 and sy is not None and sy > 0, repr(c) + (self.error or ""))
        if sx is None:
            return
        send_every = max(sx, self.CY) / 1000
        expect_every = max(sy, self.CX) / 1000
        drop_after = expect_every * HEARTBEAT_TOLERANCE
        # Allow 25 % for timers; "at least every n ms" leaves no room for a whole extra interval.
        gaps = [b - a for a, b in zip([0.0] + self.beats, self.beats)]
        res.check(f"heart-beat: the first EOL comes within {send_every:g} s of CONNECTED, and then at most "
                  f"{send_every:g} s apart",
                  len(self.beats) >= 1 and all(g <= send_every * 1.25 for g in gaps),
                  f"CONNECTED {c!r}\nEOLs at {self.beats} s after CONNECTED (gaps {[round(g, 1) for g in gaps]}); "
                  f"other frames {self.other!r}; error {self.error}")
        res.check(f"heart-beat: a silent client gets ERROR and is disconnected after ~{drop_after:g} s",
                  self.closed_at is not None and drop_after * 0.9 <= self.closed_at <= drop_after * 1.5 + 0.5
                  and any(m.startswith("ERROR\n") for m in self.other),
                  f"closed at {self.closed_at} s; other frames {self.other!r}; error {self.error}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "stomp-py"))
    args = ap.parse_args()
    res = Results()
    os.makedirs(args.out, exist_ok=True)
    config = os.path.join(args.out, "perigee-test.yaml")
    with open(config, "w") as f:
        f.write(CONFIG)
    server = PerigeeServer(os.path.join(args.out, "server.log"), config=config)
    steps = [
        ("basic tcp", lambda: test_basic(res, server, "tcp")),
        ("basic ws", lambda: test_basic(res, server, "ws")),
        ("versions", lambda: test_versions(res, server)),
        ("ack tcp", lambda: test_ack_nack(res, server, "tcp")),
        ("ack ws", lambda: test_ack_nack(res, server, "ws")),
        ("tx tcp", lambda: test_transactions(res, server, "tcp")),
        ("tx ws", lambda: test_transactions(res, server, "ws")),
        ("cross", lambda: test_cross_transport(res, server)),
        ("error tcp", lambda: test_error(res, server, "tcp")),
        ("error ws", lambda: test_error(res, server, "ws")),
        ("access", lambda: test_access(res, server)),
        ("raw ws", lambda: test_raw_websocket(res, server)),
    ]
    try:
        server.start()
        print(f"[stomp-py] stomp.py {stomp.__version__}; server http={server.port} stomp={server.stomp_port}; "
              f"log {server.log_path}", flush=True)
        probe = HeartbeatProbe(server)
        probe.start()
        for name, step in steps:
            print(f"[stomp-py] {name}", flush=True)
            try:
                step()
            except Exception:  # one broken step must not hide the others
                res.check(f"{name}: ran to the end", False, traceback.format_exc())
            if not server.alive():
                res.check(f"server still running after '{name}'", False, server.log_tail())
                break
        print("[stomp-py] heart-beats (waiting for the background probe)", flush=True)
        probe.report(res)
    except ServerError as e:
        res.check("server runs", False, str(e))
    finally:
        server.stop()
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
