#!/usr/bin/env python3
"""Issue 11 from the outside: positions, resume, history and presence against the real binary.

The perigee binary (PERIGEE_BIN, default .build/debug/perigee, or PERIGEE_CMD with {port},
{stomp_port}, {config}) runs with an HS256 JWT secret, an API key and `channels:`:
`/topic/hist.*` keeps 1,000 messages, `/topic/small` 10, `/topic/secret.*` 100 (anonymous may
not subscribe there), `/topic/pres.*` has presence with join/leave events, `/topic/plain.*`
nothing. Clients are stomp_transports.py's (STOMP/TCP, STOMP/WebSocket, SockJS). Checks:

1. resume: one subscriber per transport (STOMP/TCP, STOMP/WebSocket and the six SockJS ones)
   drops its connection while 500 messages are published (over HTTP and STOMP, continuously),
   and resumes on a new connection with `perigee-since:<epoch>:<last offset>` and a receipt:
   RECEIPT `perigee-recovered:true`, `perigee-replayed` = the messages missed up to the seam,
   no MESSAGE before the RECEIPT, publishing still going on, and what arrived before the drop
   plus after the resume is all 500, in order, by offset and by the body's sequence number;
2. `perigee-recovered:false`, each followed by a live publish that is delivered: beyond the
   history bound, a wildcard (`*`, `#`) subscription, a topic without history, malformed
   values, an offset beyond the head, another epoch, and a restart (SIGKILL; last); resuming
   at the head (nothing missed) recovers with nothing replayed;
3. `perigee-history:<k>`: the last k retained (capped by what is kept), then live; with a
   failed `since`, the last k instead; `perigee-history:0` tells the position; a RECEIPT's
   position resumes;
4. offsets: six publishers at once (HTTP x2, STOMP/TCP x2, WebSocket, SockJS) on a fresh topic
   with history and one without; two subscribers see offsets 1..600 on each, in order, each
   publisher's messages in its order;
5. presence: JWT users on WebSocket, TCP and SockJS, one with two sessions, one with a
   `presence` claim, and anonymous sessions: GET /api/presence lists each user once with its
   session count and data, counts the anonymous; a `perigee-presence:true` watcher gets exactly
   one join and one leave per user, none for anonymous sessions;
6. GET /api/history with since and limit (and without since, and with the destination as one
   percent-encoded segment): the right messages with offsets and message ids; body_base64 for
   a body that is not UTF-8; 403 where the caller may not subscribe; 400 for a malformed
   since; recovered:false for another epoch or beyond the head.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import base64
import json
import os
import signal
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

import jwt
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import PerigeeServer, Results, ServerError  # noqa: E402
from stomp_transports import KINDS, TIMEOUT, TcpClient, open_client  # noqa: E402

HS_SECRET = "history-test-hs256-" + uuid.uuid4().hex + uuid.uuid4().hex
API_KEY = "history-test-backend-" + uuid.uuid4().hex
QUIET = 0.5            # how long "nothing more arrives" is watched for, after a later marker arrived
RESUME_TOTAL = 500     # messages published through the drop and the resume
MISSED_WHILE_DOWN = 150  # a dropped client stays away while this many messages are published
PER_PUBLISHER = 100    # offsets check: messages per concurrent publisher
SINCE = "perigee-since"
HISTORY = "perigee-history"
RECOVERED = "perigee-recovered"
REPLAYED = "perigee-replayed"
EPOCH = "perigee-epoch"
OFFSET = "perigee-offset"


def config():
    return f"""# written by history_test.py
auth:
  jwt:
    hs256_secret: "{HS_SECRET}"
api_keys:
  backend: "{API_KEY}"
access:
  anonymous:
    subscribe: ["/topic/hist.*", "/topic/small", "/topic/plain.*", "/topic/pres.*"]
    send: ["/topic/**"]
channels:                 # globs: * within a /-segment (so across dots), ** a whole segment
  "/topic/hist.*":
    history: 1000
  "/topic/small":
    history: 10
  "/topic/secret.*":
    history: 100
  "/topic/pres.*":
    presence: true
    join_leave: true
"""


def token(sub, **extra):
    now = int(time.time())
    claims = {"sub": sub, "iat": now - 1, "exp": now + 600}
    claims.update(extra)
    return jwt.encode(claims, HS_SECRET, algorithm="HS256")


def uid():
    return uuid.uuid4().hex[:8]


def offset_of(frame):
    try:
        return int(frame.headers.get(OFFSET, ""))
    except ValueError:
        return None


def body_text(frame):
    return frame.body.decode("utf-8", "replace")


def show(frames, limit=12):
    """A short picture of a frame list: command, offset and body of the first and last few."""
    lines = [f"{f.command} off={f.headers.get(OFFSET)} ep={f.headers.get(EPOCH)} {body_text(f)[:40]!r}"
             for f in frames]
    if len(lines) > 2 * limit:
        lines = lines[:limit] + [f"... {len(lines) - 2 * limit} more ..."] + lines[-limit:]
    return "\n".join(lines)


def first_gap(offsets, start):
    """Where `offsets` first differs from start, start+1, ...: a readable description, or ''."""
    for i, o in enumerate(offsets):
        if o != start + i:
            return f"index {i}: expected offset {start + i}, got {o} (neighbours {offsets[max(0, i - 3):i + 3]})"
    return ""


class Api:
    """The HTTP side: publish, history, presence (with the API key unless told otherwise)."""

    def __init__(self, server):
        self.base = server.http_url
        self.http = requests.Session()
        self.http.trust_env = False

    def publish(self, destination, body, key=API_KEY):
        return self.http.post(self.base + "/api/publish" + destination, data=body.encode("utf-8"),
                              headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"},
                              timeout=TIMEOUT)

    def get(self, path, key=API_KEY):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.http.get(self.base + path, headers=headers, timeout=TIMEOUT)


def json_of(response):
    try:
        return response.json()
    except ValueError:
        return {"unparsed": response.text[:300]}


def connect(kind, server, user=None, **claims):
    client = open_client(kind, server)
    headers = {"Authorization": f"Bearer {token(user, **claims)}"} if user else {}
    frame = client.connect(headers)
    if frame is None or frame.command != "CONNECTED":
        raise RuntimeError(f"{kind} ({user or 'anonymous'}): CONNECT answered {frame!r}\n{client.transcript()}")
    return client


def subscribe(client, destination, **headers):
    """SUBSCRIBE with a receipt and the given perigee-* headers; the RECEIPT, ERROR or None."""
    return client.subscribe(destination, **headers)


def wait_count(client, n, timeout=TIMEOUT):
    """True once `client` holds at least n MESSAGE frames (False at the deadline)."""
    with client.cond:
        return client.cond.wait_for(lambda: sum(f.command == "MESSAGE" for f in client.frames) >= n, timeout)


def frames_of(client):
    with client.cond:
        return list(client.frames)


def live_delivered(api, client, destination, res, label):
    """Publishes a marker over HTTP and checks (when `res` is given) that `client` receives it
    (the subscription went live); returns the MESSAGE. Every call moves the topic's head."""
    marker = f"live-{uid()}"
    r = api.publish(destination, marker)
    frame = client.message(marker) if r.status_code == 202 else None
    if res is not None:
        res.check(f"{label}: a live publish afterwards is delivered", frame is not None,
                  f"publish {r.status_code} {r.text[:200]}\n{client.transcript()[-1500:]}")
    return frame


def head_of(api, client, destination):
    """Publishes one message and returns (epoch, offset) from the MESSAGE `client` gets."""
    frame = live_delivered(api, client, destination, None, "head")
    if frame is None:
        raise RuntimeError(f"no MESSAGE on {destination} to learn its position from\n{client.transcript()[-1500:]}")
    return frame.headers.get(EPOCH), offset_of(frame)


# ------------------------------------------------------------------------------ 1. resume
class SequencedPublisher(threading.Thread):
    """Publishes body `seq-<n>` for n = 1..total, one at a time, each answered (HTTP 202 or a
    STOMP RECEIPT) before the next, odd n over HTTP and even n over STOMP/TCP, so the topic's
    order is n's order. Before message `gate_at` it waits (up to a deadline) for `gate`, so
    that the resumes happen while publishing goes on."""

    def __init__(self, server, api, destination, total, gate, gate_at):
        super().__init__(daemon=True)
        self.api = api
        self.destination = destination
        self.total = total
        self.gate = gate
        self.gate_at = gate_at
        self.stomp = TcpClient(server)
        connected = self.stomp.connect()
        if connected is None or connected.command != "CONNECTED":
            raise RuntimeError(f"publisher CONNECT answered {connected!r}")
        self.published = 0
        self.failure = None
        self.gate_timed_out = False
        self.changed = threading.Condition()

    def run(self):
        try:
            for n in range(1, self.total + 1):
                if n == self.gate_at and not self.gate.wait(20):
                    self.gate_timed_out = True
                body = f"seq-{n}"
                if n % 2:
                    r = self.api.publish(self.destination, body)
                    if r.status_code != 202:
                        raise RuntimeError(f"publish {n}: {r.status_code} {r.text[:200]}")
                else:
                    receipt = f"p-{n}"
                    self.stomp.send_frame("SEND", {"destination": self.destination, "receipt": receipt}, body)
                    f = self.stomp.wait(lambda f: f.headers.get("receipt-id") == receipt or f.command == "ERROR")
                    if f is None or f.command != "RECEIPT":
                        raise RuntimeError(f"SEND {n}: answered {f!r}")
                with self.changed:
                    self.published = n
                    self.changed.notify_all()
                # Pacing, not synchronisation: spreads the 500 publishes over a few seconds so
                # that the drops and the resumes fall in the middle of the stream.
                time.sleep(0.004)
        except Exception as e:  # noqa: BLE001
            self.failure = repr(e)
        with self.changed:
            self.changed.notify_all()

    def wait_published(self, n, timeout):
        with self.changed:
            return self.changed.wait_for(lambda: self.published >= n or self.failure or not self.is_alive(), timeout)


class Resumer(threading.Thread):
    """One client: subscribe, receive until `drop_after` messages, close, stay away while
    MISSED_WHILE_DOWN more are published, then SUBSCRIBE on a new connection with
    perigee-since and a receipt."""

    def __init__(self, kind, server, destination, publisher, drop_after):
        super().__init__(daemon=True)
        self.kind = kind
        self.server = server
        self.destination = destination
        self.publisher = publisher
        self.drop_after = drop_after
        self.first = connect(kind, server)
        answer = subscribe(self.first, destination)
        if answer is None or answer.command != "RECEIPT":
            raise RuntimeError(f"{kind}: SUBSCRIBE answered {answer!r}")
        self.before = []       # MESSAGE frames of the first connection, as of the drop
        self.second = None
        self.receipt = None
        self.since = None
        self.resumed = threading.Event()
        self.published_at_receipt = None
        self.failure = None

    def run(self):
        try:
            if not wait_count(self.first, self.drop_after, timeout=20):
                raise RuntimeError(f"{self.kind}: {self.drop_after} messages did not arrive before the drop")
            self.first.close()
            self.before = self.first.messages()  # what the client saw: nothing later counts
            last = self.before[-1]
            self.since = f"{last.headers.get(EPOCH)}:{last.headers.get(OFFSET)}"
            # Away while MISSED_WHILE_DOWN messages are published.
            self.publisher.wait_published(offset_of(last) + MISSED_WHILE_DOWN, 20)
            self.second = connect(self.kind, self.server)
            receipt = "resume-" + uid()
            self.second.send_frame("SUBSCRIBE", {"id": "resumed", "destination": self.destination, "ack": "auto",
                                                 "receipt": receipt, SINCE: self.since})
            self.resumed.set()  # the publisher may go on: the replay runs while it publishes
            self.receipt = self.second.wait(lambda f: f.headers.get("receipt-id") == receipt or f.command == "ERROR")
            self.published_at_receipt = self.publisher.published
        except Exception as e:  # noqa: BLE001
            self.failure = f"{e!r}\n{traceback.format_exc()}"
        finally:
            self.resumed.set()

    def close(self):
        for c in (self.first, self.second):
            if c is not None:
                c.close()


def test_resume(res, server, api):
    destination = f"/topic/hist.resume.{uid()}"
    all_resumed = threading.Event()
    publisher = SequencedPublisher(server, api, destination, RESUME_TOTAL, all_resumed, RESUME_TOTAL - 60)
    # Each transport drops at its own point (40, 60, ... messages in).
    resumers = [Resumer(kind, server, destination, publisher, 40 + 20 * i) for i, kind in enumerate(KINDS)]
    try:
        publisher.start()
        for r in resumers:
            r.start()

        def gate():
            for r in resumers:
                r.resumed.wait(30)
            all_resumed.set()

        threading.Thread(target=gate, daemon=True).start()
        publisher.join(60)
        res.check("resume: the publisher published all 500 (HTTP 202 / RECEIPT each)",
                  publisher.published == RESUME_TOTAL and publisher.failure is None,
                  f"published {publisher.published}, failure {publisher.failure}")
        res.check("resume: every client resumed before the publisher's last 60 messages",
                  not publisher.gate_timed_out, "the gate timed out")
        for r in resumers:
            r.join(30)
            check_resumer(res, r)
    finally:
        publisher.stomp.close()
        for r in resumers:
            r.close()


def check_resumer(res, r):
    label = f"resume over {r.kind}"
    if not res.check(f"{label}: dropped and resubscribed", r.failure is None and r.receipt is not None,
                     r.failure or "no answer to the SUBSCRIBE"):
        return
    receipt = r.receipt
    res.check(f"{label}: RECEIPT perigee-recovered:true",
              receipt.command == "RECEIPT" and receipt.headers.get(RECOVERED) == "true", repr(receipt))
    last_offset = offset_of(r.before[-1])
    seam = None
    try:
        seam = int(receipt.headers.get(OFFSET, ""))
        replayed = int(receipt.headers.get(REPLAYED, ""))
    except ValueError:
        replayed = None
    res.check(f"{label}: RECEIPT carries the seam (epoch, offset) and perigee-replayed = seam - last seen",
              seam is not None and replayed == seam - last_offset
              and receipt.headers.get(EPOCH) == r.before[-1].headers.get(EPOCH),
              f"since {r.since}, RECEIPT {receipt!r}")
    res.check(f"{label}: it missed messages (the drop fell mid-stream)",
              seam is not None and seam - last_offset >= MISSED_WHILE_DOWN // 2, f"since {r.since}, seam {seam}")
    res.check(f"{label}: publishing was still going on when the RECEIPT came",
              (r.published_at_receipt or RESUME_TOTAL) < RESUME_TOTAL, f"published {r.published_at_receipt}")
    final = r.second.message(f"seq-{RESUME_TOTAL}", timeout=15)
    res.check(f"{label}: the last message arrives after the resume", final is not None,
              r.second.transcript()[-1500:])
    frames = frames_of(r.second)
    receipt_at = next((i for i, f in enumerate(frames) if f is receipt), len(frames))
    early = [f for f in frames[:receipt_at] if f.command == "MESSAGE"]
    res.check(f"{label}: no MESSAGE before the RECEIPT", not early, show(early))
    after = [f for f in frames[receipt_at:] if f.command == "MESSAGE"]
    if replayed is not None and seam is not None:
        replay_offsets = [offset_of(f) for f in after[:replayed]]
        res.check(f"{label}: the {replayed} frames after the RECEIPT are offsets {last_offset + 1}..{seam}",
                  replay_offsets == list(range(last_offset + 1, seam + 1)), first_gap(replay_offsets, last_offset + 1))
    union = r.before + after
    offsets = [offset_of(f) for f in union]
    seqs = [body_text(f) for f in union]
    res.check(f"{label}: before + after = offsets 1..{RESUME_TOTAL} exactly, strictly increasing",
              offsets == list(range(1, RESUME_TOTAL + 1)),
              f"{len(offsets)} messages; {first_gap(offsets, 1)}\nbefore:\n{show(r.before, 4)}\nafter:\n{show(after, 4)}")
    res.check(f"{label}: bodies seq-1..seq-{RESUME_TOTAL} exactly once, in order (no gap, no duplicate)",
              seqs == [f"seq-{n}" for n in range(1, RESUME_TOTAL + 1)],
              f"{len(seqs)} bodies, {len(set(seqs))} distinct; first out of place: "
              + next((f"index {i}: {s}" for i, s in enumerate(seqs) if s != f"seq-{i + 1}"), "none"))
    epochs = {f.headers.get(EPOCH) for f in union}
    res.check(f"{label}: one epoch (13 characters [0-9a-z]) on every message",
              len(epochs) == 1 and all(e and len(e) == 13 and e.isalnum() and e == e.lower() for e in epochs),
              epochs)


# ------------------------------------------------------------------------------ 2. recovered:false
def expect_not_recovered(res, api, client, destination, since, label, head=None, epoch=None, **extra):
    """SUBSCRIBE with since (and extra headers): RECEIPT recovered:false, replayed 0, nothing
    before a live publish, which is delivered. `head`/`epoch`: what the RECEIPT's position
    must say, when known."""
    receipt = subscribe(client, destination, **{SINCE: since}, **extra)
    ok = receipt is not None and receipt.command == "RECEIPT" and receipt.headers.get(RECOVERED) == "false"
    res.check(f"{label}: RECEIPT perigee-recovered:false", ok, f"since {since!r}: {receipt!r}\n"
              + (client.transcript()[-800:] if receipt is None or receipt.command != "RECEIPT" else ""))
    if receipt is not None and receipt.command == "RECEIPT":
        res.check(f"{label}: perigee-replayed:0", receipt.headers.get(REPLAYED) == "0", repr(receipt))
        if head is not None:
            res.check(f"{label}: the RECEIPT names the topic's head {epoch}:{head}",
                      receipt.headers.get(OFFSET) == str(head) and receipt.headers.get(EPOCH) == epoch, repr(receipt))
    before = len(client.messages())
    frame = live_delivered(api, client, destination, res, label)
    if frame is not None:
        extra_frames = [f for f in client.messages()[before:] if f is not frame]
        res.check(f"{label}: nothing replayed before the live message", not extra_frames, show(extra_frames))
    client.close()
    return receipt


def test_not_recovered(res, server, api):
    # Beyond the history bound: /topic/small keeps 10; the client misses 30.
    watcher = connect("websocket", server)
    subscribe(watcher, "/topic/small")
    # /topic/small is not fresh (test_history_header used it): positions are read from MESSAGEs.
    for n in range(1, 6):
        api.publish("/topic/small", f"small-{n}")
    seen = watcher.message("small-5")
    epoch, last = (seen.headers.get(EPOCH), offset_of(seen)) if seen else (None, None)
    for n in range(6, 36):
        api.publish("/topic/small", f"small-{n}")
    head = watcher.message("small-35")
    head_offset = offset_of(head) if head else None
    expect_not_recovered(res, api, connect("tcp", server), "/topic/small", f"{epoch}:{last}",
                         "since older than the 10 kept (30 missed)", head=head_offset, epoch=epoch)
    # ... while a since within the bound still recovers exactly what is kept.
    epoch, head_offset = head_of(api, watcher, "/topic/small")
    client = connect("websocket", server)
    receipt = subscribe(client, "/topic/small", **{SINCE: f"{epoch}:{head_offset - 10}"})
    res.check("since exactly 10 back on /topic/small: recovered:true, replayed 10",
              receipt is not None and receipt.headers.get(RECOVERED) == "true" and receipt.headers.get(REPLAYED) == "10",
              repr(receipt))
    wait_count(client, 10)
    offsets = [offset_of(f) for f in client.messages()]
    res.check("... and the 10 kept arrive in order", offsets == list(range(head_offset - 9, head_offset + 1)), offsets)
    client.close()
    watcher.close()

    # A wildcard subscription with since (a real position of a matching topic).
    hist = "/topic/hist.wild"
    watcher = connect("websocket", server)
    subscribe(watcher, hist)
    epoch, offset = head_of(api, watcher, hist)
    head_of(api, watcher, hist)
    for pattern in ("/topic/hist.*", "/topic/hist.#", "/topic/#"):
        if pattern == "/topic/#":
            # anonymous may not subscribe to /topic/# (it is not under an allowed glob): an API key may
            client = open_client("xhr-streaming", server)
            client.connect({"passcode": API_KEY})
        else:
            client = connect("xhr-streaming", server)
        receipt = subscribe(client, pattern, **{SINCE: f"{epoch}:{offset}"})
        res.check(f"wildcard {pattern} with since: RECEIPT perigee-recovered:false",
                  receipt is not None and receipt.command == "RECEIPT" and receipt.headers.get(RECOVERED) == "false",
                  repr(receipt))
        live_delivered(api, client, hist, res, f"wildcard {pattern} with since")
        client.close()
    watcher.close()

    # A topic without history.
    plain = f"/topic/plain.{uid()}"
    watcher = connect("tcp", server)
    subscribe(watcher, plain)
    epoch, offset = head_of(api, watcher, plain)
    epoch2, offset2 = head_of(api, watcher, plain)
    res.check("a topic without history still numbers its messages (offsets 1, 2 on a fresh topic)",
              (offset, offset2) == (1, 2) and epoch == epoch2, (epoch, offset, epoch2, offset2))
    expect_not_recovered(res, api, connect("websocket", server), plain, f"{epoch}:{offset}",
                         "a topic without history configured", head=offset2, epoch=epoch)

    # Malformed values and an offset beyond the head, on a topic with history.
    hist = f"/topic/hist.bad.{uid()}"
    subscribe(watcher, hist)
    epoch, offset = head_of(api, watcher, hist)
    for since in ("garbage", f"{epoch}", f"{epoch}:", f"{epoch}:-1", f"{epoch}:1x", f"{epoch.upper()}:1",
                  f":{offset}", f"{epoch}:99999999999999999999999", f"{epoch}:{offset}:1"):
        expect_not_recovered(res, api, connect("websocket", server), hist, since, f"malformed since {since!r}")
    epoch, offset = head_of(api, watcher, hist)  # each case above published a live message
    expect_not_recovered(res, api, connect("tcp", server), hist, f"{epoch}:{offset + 5}", "an offset beyond the head",
                         head=offset, epoch=epoch)
    expect_not_recovered(res, api, connect("tcp", server), hist, f"zzzzzzzzzzzzz:{offset}",
                         "an epoch that is not the topic's")
    # At the head (nothing missed): recovered, nothing replayed.
    epoch, offset = head_of(api, watcher, hist)
    client = connect("websocket", server)
    receipt = subscribe(client, hist, **{SINCE: f"{epoch}:{offset}"})
    res.check("since = the head: recovered:true, replayed 0",
              receipt is not None and receipt.headers.get(RECOVERED) == "true" and receipt.headers.get(REPLAYED) == "0",
              repr(receipt))
    frame = live_delivered(api, client, hist, res, "since = the head")
    res.check("since = the head: the live message is the next offset and the only one",
              frame is not None and offset_of(frame) == offset + 1 and len(client.messages()) == 1,
              show(client.messages()))
    client.close()
    watcher.close()


def test_restart(res, server, api):
    """Last: the restart ends every connection. A position from before it is not resumable."""
    destination = "/topic/hist.restart"
    client = connect("websocket", server)
    subscribe(client, destination)
    epoch, offset = head_of(api, client, destination)
    client.close()
    # Killed, as a crash would: SIGTERM's drain would wait out the SockJS polling sessions the
    # earlier tests left (their clients stopped polling), which proves nothing here.
    server.stop(sig=signal.SIGKILL)
    server.start()
    client = connect("tcp", server)
    receipt = subscribe(client, destination, **{SINCE: f"{epoch}:{offset}"})
    res.check("after a restart, the old epoch: RECEIPT perigee-recovered:false with a new epoch",
              receipt is not None and receipt.headers.get(RECOVERED) == "false"
              and receipt.headers.get(EPOCH) not in (None, epoch), f"old {epoch}:{offset}; {receipt!r}")
    frame = live_delivered(api, client, destination, res, "after a restart, the old epoch")
    res.check("after a restart the topic starts again: the RECEIPT's new epoch, offset 1",
              frame is not None and frame.headers.get(EPOCH) != epoch and offset_of(frame) == 1
              and receipt is not None and frame.headers.get(EPOCH) == receipt.headers.get(EPOCH),
              repr(frame))
    client.close()


# ------------------------------------------------------------------------------ 3. perigee-history
def fresh_topic(api, count, prefix):
    """A new /topic/hist.* destination with `count` messages `<prefix>-1`.. published to it."""
    destination = f"/topic/hist.{prefix}.{uid()}"
    for n in range(1, count + 1):
        r = api.publish(destination, f"{prefix}-{n}")
        if r.status_code != 202:
            raise RuntimeError(f"publish to {destination}: {r.status_code} {r.text[:200]}")
    return destination


def test_history_header(res, server, api):
    for kind in ("websocket", "tcp", "xhr-polling"):
        destination = fresh_topic(api, 30, "recent")
        client = connect(kind, server)
        receipt = subscribe(client, destination, **{HISTORY: "5"})
        res.check(f"perigee-history:5 over {kind}: RECEIPT perigee-replayed:5, no perigee-recovered",
                  receipt is not None and receipt.headers.get(REPLAYED) == "5" and RECOVERED not in receipt.headers,
                  repr(receipt))
        got = client.message("recent-30")
        res.check(f"perigee-history:5 over {kind}: recent-26..recent-30 with offsets 26..30",
                  got is not None and [(offset_of(f), body_text(f)) for f in client.messages()]
                  == [(n, f"recent-{n}") for n in range(26, 31)], show(client.messages()))
        frame = live_delivered(api, client, destination, res, f"perigee-history:5 over {kind}")
        res.check(f"perigee-history:5 over {kind}: then live, offset 31 onwards, nothing twice",
                  frame is not None and len(client.messages()) == 6 and offset_of(frame) >= 31,
                  show(client.messages()))
        client.close()
    # perigee-history:0 asks for nothing but the position: a client that saw no MESSAGE can
    # resume from the RECEIPT's.
    destination = fresh_topic(api, 3, "quiet")
    client = connect("websocket", server)
    receipt = subscribe(client, destination, **{HISTORY: "0"})
    res.check("perigee-history:0: RECEIPT perigee-replayed:0 with the head position (offset 3)",
              receipt is not None and receipt.headers.get(REPLAYED) == "0" and receipt.headers.get(OFFSET) == "3"
              and receipt.headers.get(EPOCH), repr(receipt))
    client.close()
    client = connect("websocket", server)
    receipt = subscribe(client, destination, **{HISTORY: "1"})
    position = f"{receipt.headers.get(EPOCH)}:{receipt.headers.get(OFFSET)}" if receipt is not None else None
    client.close()
    for n in range(4, 9):
        api.publish(destination, f"quiet-{n}")
    client = connect("tcp", server)
    receipt = subscribe(client, destination, **{SINCE: position})
    wait_count(client, 5)
    res.check("resuming from a RECEIPT's position (perigee-history:1): recovered, quiet-4..quiet-8",
              receipt is not None and receipt.headers.get(RECOVERED) == "true" and receipt.headers.get(REPLAYED) == "5"
              and [body_text(f) for f in client.messages()] == [f"quiet-{n}" for n in range(4, 9)],
              f"{receipt!r}\n{show(client.messages())}")
    client.close()
    # k beyond what is kept: /topic/small keeps 10.
    for n in range(1, 16):
        api.publish("/topic/small", f"cap-{n}")
    client = connect("websocket", server)
    receipt = subscribe(client, "/topic/small", **{HISTORY: "50"})
    res.check("perigee-history:50 on /topic/small (keeps 10): replayed 10",
              receipt is not None and receipt.headers.get(REPLAYED) == "10", repr(receipt))
    got = client.message("cap-15")
    res.check("... cap-6..cap-15", got is not None and [body_text(f) for f in client.messages()]
              == [f"cap-{n}" for n in range(6, 16)], show(client.messages()))
    client.close()
    # since fails (another epoch) with history: the last k instead.
    destination = fresh_topic(api, 30, "fallback")
    client = connect("tcp", server)
    receipt = subscribe(client, destination, **{SINCE: "zzzzzzzzzzzzz:3", HISTORY: "3"})
    res.check("failed since + perigee-history:3: recovered:false, replayed 3",
              receipt is not None and receipt.headers.get(RECOVERED) == "false" and receipt.headers.get(REPLAYED) == "3",
              repr(receipt))
    head = int(receipt.headers.get(OFFSET, "0")) if receipt is not None else 0
    wait_count(client, 3)
    res.check("... the last 3 retained arrive, offsets 28..30",
              head == 30 and [offset_of(f) for f in client.messages()] == [28, 29, 30],
              show(client.messages()))
    epoch = receipt.headers.get(EPOCH) if receipt is not None else None
    client.close()
    # since succeeds with history: since wins.
    client = connect("websocket", server)
    receipt = subscribe(client, destination, **{SINCE: f"{epoch}:20", HISTORY: "3"})
    res.check("good since + perigee-history:3: recovered:true, since wins (replayed = head - 20)",
              receipt is not None and receipt.headers.get(RECOVERED) == "true"
              and receipt.headers.get(REPLAYED) == str(head - 20) and receipt.headers.get(OFFSET) == str(head),
              repr(receipt))
    wait_count(client, head - 20)
    res.check("... offsets 21..head arrive", [offset_of(f) for f in client.messages()] == list(range(21, head + 1)),
              show(client.messages()))
    client.close()


# ------------------------------------------------------------------------------ 4. offsets
class Publisher(threading.Thread):
    def __init__(self, name, send):
        super().__init__(daemon=True)
        self.name_ = name
        self.send = send
        self.failure = None
        self.start_line = None

    def run(self):
        try:
            self.start_line.wait(10)
            for i in range(1, PER_PUBLISHER + 1):
                self.send(f"{self.name_}-{i}", i == PER_PUBLISHER)
        except Exception as e:  # noqa: BLE001
            self.failure = repr(e)


def stomp_sender(client, destinations):
    """Sends each body to every destination; the very last SEND asks for a receipt (a STOMP
    connection's frames are handled in order, so its RECEIPT answers for them all)."""
    def send(body, last):
        for destination in destinations:
            if last and destination == destinations[-1]:
                receipt = "last-" + uid()
                client.send(destination, body, receipt=receipt)
                f = client.wait(lambda f: f.headers.get("receipt-id") == receipt or f.command == "ERROR", 10)
                if f is None or f.command != "RECEIPT":
                    raise RuntimeError(f"{client.kind} publisher: last SEND answered {f!r}")
            elif not client.send_frame("SEND", {"destination": destination}, body):
                raise RuntimeError(f"{client.kind} publisher: {client.send_errors[-1]}")
    return send


def http_sender(server, destinations):
    api = Api(server)

    def send(body, last):
        for destination in destinations:
            r = api.publish(destination, body)
            if r.status_code != 202:
                raise RuntimeError(f"HTTP publish: {r.status_code} {r.text[:200]}")
    return send


def test_offsets(res, server, api):
    """Six publishers at once, each sending its 100 bodies to a topic with history and to one
    without (every publish is numbered either way); two subscribers of both."""
    topics = [f"/topic/hist.concurrent.{uid()}", f"/topic/plain.concurrent.{uid()}"]
    subscribers = {kind: connect(kind, server) for kind in ("websocket", "tcp")}
    for kind, c in subscribers.items():
        for destination in topics:
            answer = subscribe(c, destination)
            if answer is None or answer.command != "RECEIPT":
                raise RuntimeError(f"{kind} subscriber: {answer!r}")
    clients = {kind: connect(kind, server) for kind in ("tcp", "websocket", "xhr-streaming")}
    clients["tcp2"] = connect("tcp", server)
    senders = {"http1": http_sender(server, topics), "http2": http_sender(server, topics)}
    senders.update({name: stomp_sender(c, topics) for name, c in clients.items()})
    start_line = threading.Event()
    publishers = []
    for name, send in senders.items():
        p = Publisher(name, send)
        p.start_line = start_line
        p.start()
        publishers.append(p)
    start_line.set()
    for p in publishers:
        p.join(60)
    failures = {p.name_: p.failure for p in publishers if p.failure or p.is_alive()}
    res.check(f"offsets: {len(publishers)} publishers (HTTP x2, STOMP/TCP x2, WebSocket, SockJS xhr-streaming) "
              f"published {PER_PUBLISHER} each to both topics", not failures, failures)
    total = PER_PUBLISHER * len(publishers)
    seen = {}
    for kind, c in subscribers.items():
        wait_count(c, 2 * total, timeout=15)
        for destination in topics:
            label = f"offsets over {kind} on {destination.split('.')[0]}.*"
            frames = [f for f in c.messages() if f.headers.get("destination") == destination]
            offsets = [offset_of(f) for f in frames]
            res.check(f"{label}: exactly {total} messages, offsets 1..{total} in arrival order",
                      offsets == list(range(1, total + 1)), f"{len(offsets)} messages; {first_gap(offsets, 1)}")
            bodies = [body_text(f) for f in frames]
            mine = {name: [b for b in bodies if b.startswith(name + "-")] for name in senders}
            res.check(f"{label}: every publisher's messages once each, in its order",
                      all(got == [f"{name}-{i}" for i in range(1, PER_PUBLISHER + 1)] for name, got in mine.items()),
                      {name: len(got) for name, got in mine.items()})
            res.check(f"{label}: one epoch", len({f.headers.get(EPOCH) for f in frames}) == 1,
                      {f.headers.get(EPOCH) for f in frames})
            seen.setdefault(destination, []).append([(offset_of(f), body_text(f)) for f in frames])
    for destination, (a, b) in seen.items():
        res.check(f"offsets on {destination.split('.')[0]}.*: both subscribers agree on every message's offset",
                  a == b, next((f"first difference at {i}: {x} vs {y}" for i, (x, y) in enumerate(zip(a, b)) if x != y),
                               f"lengths {len(a)} vs {len(b)}"))
    for c in list(subscribers.values()) + list(clients.values()):
        c.close()


# ------------------------------------------------------------------------------ 5. presence
class Presence:
    def __init__(self, api, destination):
        self.api = api
        self.path = "/api/presence" + destination
        self.last = None

    def read(self):
        r = self.api.get(self.path)
        self.last = (r.status_code, json_of(r))
        return self.last[1] if r.status_code == 200 else {}

    def wait(self, pred, timeout=TIMEOUT):
        """The first snapshot for which pred holds, or None (self.last says what came)."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.read()
            if pred(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


def sessions_of(snapshot, user):
    return next((u.get("sessions") for u in snapshot.get("users", []) if u.get("user") == user), 0)


def events(watcher):
    return [(f.headers["perigee-event"], event_user(f), event_body(f).get("data"), f)
            for f in watcher.messages() if "perigee-event" in f.headers]


def event_body(frame):
    """The JSON object of a presence event ({} when it is not one)."""
    try:
        body = json.loads(frame.body)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def event_user(frame):
    return event_body(frame).get("user")


def wait_event(watcher, kind, user):
    return watcher.wait(lambda f: f.command == "MESSAGE" and f.headers.get("perigee-event") == kind
                        and event_user(f) == user)


def leave(client):
    """DISCONNECT with a receipt (ends the session at once, whatever the transport), then close."""
    receipt = "bye-" + uid()
    client.send_frame("DISCONNECT", {"receipt": receipt})
    client.wait(lambda f: f.headers.get("receipt-id") == receipt)
    client.close()


def test_presence(res, server, api):
    room = f"/topic/pres.r{uid()}"
    presence = Presence(api, room)
    carol_data = {"name": "Carol", "colour": "red"}
    watcher = connect("websocket", server)
    receipt = subscribe(watcher, room, sub_id="watch", **{"perigee-presence": "true"})
    if receipt is None or receipt.command != "RECEIPT":
        raise RuntimeError(f"presence watcher: {receipt!r}")
    clients = []
    try:
        alice_ws = connect("websocket", server, "alice")
        clients.append(alice_ws)
        subscribe(alice_ws, room)
        res.check("presence: alice's first subscription (WebSocket) makes a join",
                  wait_event(watcher, "join", "alice") is not None, watcher.transcript()[-1500:])
        alice_tcp = connect("tcp", server, "alice")
        clients.append(alice_tcp)
        subscribe(alice_tcp, room)
        res.check("presence API: alice has 2 sessions (WebSocket + TCP)",
                  presence.wait(lambda s: sessions_of(s, "alice") == 2) is not None, presence.last)
        bob = connect("xhr-streaming", server, "bob")
        clients.append(bob)
        subscribe(bob, room)
        res.check("presence: bob (SockJS xhr-streaming) makes a join", wait_event(watcher, "join", "bob") is not None,
                  watcher.transcript()[-1500:])
        carol = connect("sockjs-websocket", server, "carol", presence=carol_data)
        clients.append(carol)
        subscribe(carol, room, sub_id="carol-sub")
        joined = wait_event(watcher, "join", "carol")
        res.check("presence: carol (SockJS websocket) makes a join carrying her token's presence claim as data",
                  joined is not None and event_body(joined).get("data") == carol_data,
                  repr(joined) if joined else watcher.transcript()[-1500:])
        anonymous = connect("xhr-polling", server)
        clients.append(anonymous)
        subscribe(anonymous, room)
        snapshot = presence.wait(lambda s: s.get("anonymous") == 2)
        res.check("presence API: anonymous counts the watcher and the anonymous subscriber (2)",
                  snapshot is not None, presence.last)
        snapshot = snapshot or {}
        users = snapshot.get("users", [])
        res.check("presence API: each user listed once, with sessions and data",
                  sorted((u.get("user"), u.get("sessions"), json.dumps(u.get("data"), sort_keys=True)) for u in users)
                  == [("alice", 2, "null"), ("bob", 1, "null"), ("carol", 1, json.dumps(carol_data, sort_keys=True))],
                  json.dumps(snapshot))
        res.check("presence API: names the destination, lists no anonymous user",
                  snapshot.get("destination") == room and all(u.get("user") not in (None, "", "anonymous") for u in users),
                  json.dumps(snapshot))
        res.check("presence: a subscriber that did not ask for presence gets no events",
                  not any("perigee-event" in f.headers for f in alice_tcp.messages() + bob.messages()),
                  show(alice_tcp.messages() + bob.messages()))

        alice_ws.close()
        res.check("presence API: alice down to 1 session after her WebSocket closed",
                  presence.wait(lambda s: sessions_of(s, "alice") == 1) is not None, presence.last)
        leave(alice_tcp)
        res.check("presence: alice's last session leaving makes a leave",
                  wait_event(watcher, "leave", "alice") is not None, watcher.transcript()[-1500:])
        leave(bob)
        res.check("presence: bob leaving makes a leave", wait_event(watcher, "leave", "bob") is not None,
                  watcher.transcript()[-1500:])
        leave(anonymous)
        res.check("presence API: the anonymous subscriber gone, only the watcher counted",
                  presence.wait(lambda s: s.get("anonymous") == 1 and sessions_of(s, "alice") == 0) is not None,
                  presence.last)
        marker = f"marker-{uid()}"
        api.publish(room, marker)
        res.check("presence: an ordinary message reaches the watcher", watcher.message(marker) is not None,
                  watcher.transcript()[-1500:])
        seen = [(kind, user) for kind, user, _, _ in events(watcher)]
        res.check("presence: exactly join alice, join bob, join carol, leave alice, leave bob (one per user, "
                  "none for anonymous sessions, none for alice's second session)",
                  seen == [("join", "alice"), ("join", "bob"), ("join", "carol"), ("leave", "alice"), ("leave", "bob")],
                  seen)
        frames = [f for _, _, _, f in events(watcher)]
        res.check("presence events: destination, subscription, message-id, content-type application/json, "
                  "no perigee-offset, body {user, data}",
                  frames and all(f.headers.get("destination") == room and f.headers.get("subscription") == "watch"
                                 and f.headers.get("message-id") and OFFSET not in f.headers
                                 and f.headers.get("content-type", "").startswith("application/json")
                                 and set(event_body(f)) == {"user", "data"} for f in frames),
                  show(frames))
        carol.send_frame("UNSUBSCRIBE", {"id": "carol-sub"})
        res.check("presence: carol's UNSUBSCRIBE (her session stays) makes a leave and the API lists nobody",
                  wait_event(watcher, "leave", "carol") is not None
                  and presence.wait(lambda s: s.get("users") == [] and s.get("anonymous") == 1) is not None,
                  f"{presence.last}\n{watcher.transcript()[-800:]}")
    finally:
        for c in clients + [watcher]:
            c.close()
    r = api.get("/api/presence/topic/hist.nopresence")
    res.check("GET /api/presence on a destination without presence: 404", r.status_code == 404,
              f"{r.status_code} {r.text[:200]}")


# ------------------------------------------------------------------------------ 6. history API
def test_history_api(res, server, api):
    destination = f"/topic/hist.api.{uid()}"
    watcher = connect("websocket", server)
    subscribe(watcher, destination)
    for n in range(1, 21):
        api.publish(destination, f"api-{n}")
    last = watcher.message("api-20")
    if last is None:
        raise RuntimeError(f"history API: the 20 publishes did not arrive\n{watcher.transcript()[-1000:]}")
    epoch = last.headers.get(EPOCH)
    ids = {offset_of(f): f.headers.get("message-id") for f in watcher.messages()}
    watcher.close()

    def page(query, key=API_KEY):
        r = api.get(f"/api/history{destination}?{query}", key=key)
        return r.status_code, json_of(r)

    for query, expected in ((f"since={epoch}:0&limit=5", range(1, 6)), (f"since={epoch}:15", range(16, 21)),
                            (f"since={epoch}:15&limit=2", range(16, 18)), (f"since={epoch}:20", range(0))):
        status, body = page(query)
        messages = body.get("messages") or []
        res.check(f"GET /api/history/topic/hist.api.X?{query.replace(epoch, 'E')}: 200, recovered, head 20, "
                  f"offsets {list(expected)[:1]}..{list(expected)[-1:]}",
                  status == 200 and body.get("recovered") is True and body.get("offset") == 20
                  and body.get("epoch") == epoch and body.get("destination") == destination
                  and [(m.get("offset"), m.get("body"), m.get("epoch")) for m in messages]
                  == [(n, f"api-{n}", epoch) for n in expected], f"{status} {json.dumps(body)[:1500]}")
        res.check(f"history API ?{query.replace(epoch, 'E')}: each message's message_id is its MESSAGE's message-id "
                  "and headers is an object",
                  all(m.get("message_id") == ids.get(m.get("offset")) and isinstance(m.get("headers"), dict)
                      for m in messages), json.dumps(messages)[:1000])
    status, body = page("limit=3")
    res.check("history API without since: the newest kept, oldest first (offsets 18..20 with limit=3)",
              status == 200 and body.get("recovered") is True and body.get("truncated") is False
              and [m.get("offset") for m in body.get("messages", [])] == [18, 19, 20], f"{status} {json.dumps(body)[:800]}")
    r = api.get("/api/history/" + urllib.parse.quote(destination, safe="") + f"?since={epoch}:18")
    body = json_of(r)
    res.check("history API with the destination as one percent-encoded segment: the same messages",
              r.status_code == 200 and [m.get("body") for m in body.get("messages", [])] == ["api-19", "api-20"],
              f"{r.status_code} {r.text[:500]}")
    status, body = page("since=zzzzzzzzzzzzz:3&limit=5")
    res.check("history API: a since of another epoch: 200, recovered false", status == 200 and body.get("recovered") is False,
              f"{status} {json.dumps(body)[:500]}")
    status, body = page(f"since={epoch}:25")
    res.check("history API: a since beyond the head: 200, recovered false, no messages",
              status == 200 and body.get("recovered") is False and not body.get("messages"),
              f"{status} {json.dumps(body)[:500]}")
    for bad in ("garbage", f"{epoch}:-1", f"{epoch}:x", f"{epoch.upper()}:1", f"{epoch}:"):
        status, body = page("since=" + urllib.parse.quote(bad, safe=":"))
        res.check(f"history API: malformed since {bad.replace(epoch, 'E')!r}: 400 with a JSON error",
                  status == 400 and isinstance(body.get("error"), str), f"{status} {json.dumps(body)[:300]}")
    status, body = page(f"since={epoch}:10&limit=3", key=None)
    res.check("history API: anonymous may read what it may subscribe to (200)",
              status == 200 and [m.get("offset") for m in body.get("messages", [])] == [11, 12, 13],
              f"{status} {json.dumps(body)[:500]}")

    binary = f"/topic/hist.binary.{uid()}"
    raw = bytes([0, 0xFF, 0xFE, 0x80, 0x41])
    r = api.http.post(api.base + "/api/publish" + binary, data=raw,
                      headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/octet-stream"},
                      timeout=TIMEOUT)
    body = json_of(api.get(f"/api/history{binary}"))
    messages = body.get("messages") or [{}]
    res.check("history API: a body that is not UTF-8 comes back exactly as body_base64",
              r.status_code == 202 and "body" not in messages[0]
              and base64.b64decode(messages[0].get("body_base64", "")) == raw, json.dumps(body)[:500])

    secret = f"/topic/secret.{uid()}"
    r = api.publish(secret, "classified")
    res.check("history API: the API key publishes to a /topic/secret.* destination", r.status_code == 202,
              f"{r.status_code} {r.text[:200]}")
    r = api.get(f"/api/history{secret}?limit=10", key=None)
    res.check("history API: anonymous on a destination it may not subscribe to: 403", r.status_code == 403,
              f"{r.status_code} {r.text[:300]}")
    for label, key in (("the API key", API_KEY), ("a JWT user", token("dave"))):
        r = api.get(f"/api/history{secret}?limit=10", key=key)
        body = json_of(r)
        res.check(f"history API: {label} reads the secret destination (200, the message)",
                  r.status_code == 200 and [m.get("body") for m in body.get("messages", [])] == ["classified"],
                  f"{r.status_code} {r.text[:300]}")


# ------------------------------------------------------------------------------ main
TESTS = [test_resume, test_history_header, test_offsets, test_history_api, test_presence, test_not_recovered,
         test_restart]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "history"))
    ap.add_argument("--only", action="append", help="run only the test functions named (e.g. test_presence)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "perigee-history.yaml")
    with open(path, "w") as f:
        f.write(config())
    server = PerigeeServer(os.path.join(args.out, "server.log"), config=path)
    res = Results()
    started = time.monotonic()
    try:
        server.start()
        print(f"[history] server http={server.port} stomp={server.stomp_port}; log {server.log_path}", flush=True)
        api = Api(server)
        for test in TESTS:
            if args.only and test.__name__ not in args.only:
                continue
            t0 = time.monotonic()
            print(f"[history] {test.__name__}", flush=True)
            try:
                test(res, server, api)
            except (ServerError, RuntimeError, requests.RequestException, OSError, ValueError, TypeError) as e:
                res.check(f"{test.__name__} runs to its end", False,
                          f"{e!r}\n{traceback.format_exc()}\n{server.log_tail(10)}")
            print(f"[history] {test.__name__}: {time.monotonic() - t0:.1f} s", flush=True)
            if not server.alive():
                res.check(f"the server is still running after {test.__name__}", False, server.log_tail())
                server.start()
    except ServerError as e:
        res.check("the server starts", False, repr(e))
    finally:
        server.stop()
    print(f"[history] done in {time.monotonic() - started:.1f} s", flush=True)
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
