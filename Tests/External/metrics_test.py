#!/usr/bin/env python3
"""Issue 10 item 1 from the outside: GET /metrics against what a scripted session did.

Starts the perigee binary (PERIGEE_BIN, default .build/debug/perigee, or PERIGEE_CMD with
'{port}', '{stomp_port}', '{config}') with an HS256 JWT secret, an API key, a 1,024-byte frame
limit and a subscribe hook (hook_server.py), scrapes /metrics once for a baseline, then runs a
session: TCP, WebSocket and SockJS xhr-polling subscribers (stomp_transports.py), messages
published over HTTP and over STOMP, one subscription the hook denies, one bad frame (ERROR),
one frame over the limit, one refused WebSocket handshake and one expired JWT. It scrapes again,
parses both scrapes with prometheus_client's text parser, and checks that each counter moved by
exactly what the script did. Waits poll /metrics (or a client's frames); nothing sleeps for
correctness.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import os
import socket
import sys
import time
import traceback
import uuid

import jwt
import requests
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect as ws_connect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hook_server import HookServer, allow, deny  # noqa: E402
from perigee_server import PerigeeServer, Results  # noqa: E402
from stomp_transports import encode_frame, open_client  # noqa: E402

HS_SECRET = "metrics-test-hs256-" + uuid.uuid4().hex + uuid.uuid4().hex
API_KEY = "metrics-test-key-" + uuid.uuid4().hex
N_TCP, N_WS, N_XHR = 3, 2, 1   # subscribers per transport
K_HTTP, K_STOMP = 3, 2          # messages published over HTTP and over STOMP/TCP
DEADLINE = 20.0                 # seconds a polled condition may take (SockJS sessions end late)


def config(hooks):
    return f"""auth:
  jwt:
    hs256_secret: "{HS_SECRET}"
api_keys:
  backend: "{API_KEY}"
limits:
  max_frame_size: 1024
access:
  anonymous: {{subscribe: ["/topic/**"], send: ["/topic/**"]}}
hooks:
  subscribe: {hooks.url}/subscribe
metrics:
  enabled: true
  access: loopback
"""


class Scrape:
    """One /metrics answer, parsed: samples by (name, sorted label items)."""

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.families = {}
        for family in text_string_to_metric_families(text):
            self.families[family.name] = family.type
            for sample in family.samples:
                self.samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def get(self, name, **labels):
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def label_values(self):
        return {value for (_, labels) in self.samples for (_, value) in labels}


def scrape(server):
    r = requests.get(server.http_url + "/metrics", timeout=5)
    r.raise_for_status()
    return r, Scrape(r.text)


def poll(server, condition, timeout=DEADLINE):
    """Scrapes until condition(scrape) holds or the deadline passes; returns the last scrape."""
    deadline = time.monotonic() + timeout
    while True:
        _, s = scrape(server)
        if condition(s) or time.monotonic() > deadline:
            return s
        time.sleep(0.1)


def refused_handshake(server):
    """A WebSocket upgrade with version 8: the server answers 426 (reason `version`)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /stomp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer.split(b"\r\n", 1)[0].decode("latin-1")


def deflate_session(res, server, dest, before):
    """A WebSocket subscriber that negotiates permessage-deflate (the stomp_transports clients
    do not) gets one 600-byte message: the compressed bytes must be counted."""
    with ws_connect(f"ws://127.0.0.1:{server.port}/stomp", subprotocols=["v12.stomp"], open_timeout=5,
                    ping_interval=None, proxy=None) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        ws.send(encode_frame("CONNECT", {"accept-version": "1.2", "host": "perigee"}).decode())
        connected = ws.recv(timeout=5)
        ws.send(encode_frame("SUBSCRIBE", {"id": "d", "destination": dest, "receipt": "d"}).decode())
        receipt = ws.recv(timeout=5)
        r = requests.post(server.http_url + "/api/publish" + dest, data="y" * 600,
                          headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
        message = ws.recv(timeout=5)
        ws.send(encode_frame("DISCONNECT").decode())
    res.check("a deflating WebSocket subscriber got its message",
              "permessage-deflate" in extensions and connected.startswith("CONNECTED") and receipt.startswith("RECEIPT")
              and r.status_code == 202 and message.startswith("MESSAGE"), f"{extensions!r} {r.status_code}")

    def grew(s):
        return s.get("perigee_deflate_input_bytes_total") - before.get("perigee_deflate_input_bytes_total") >= 600

    after = poll(server, grew)
    deflated_in = after.get("perigee_deflate_input_bytes_total") - before.get("perigee_deflate_input_bytes_total")
    deflated_out = after.get("perigee_deflate_output_bytes_total") - before.get("perigee_deflate_output_bytes_total")
    res.check("permessage-deflate bytes were counted, and the message shrank", deflated_in >= 600 and 0 < deflated_out < deflated_in,
              f"in {deflated_in}, out {deflated_out}")


def run(res, server, hooks):
    dest = "/topic/metrics-secret-" + uuid.uuid4().hex[:8]
    denied_dest = "/topic/metrics-denied-" + uuid.uuid4().hex[:8]
    hooks.reset(subscribe=lambda r: deny("not here") if (r.json or {}).get("destination") == denied_dest else allow())

    # The baseline once the connections of the server's start-up probe (perigee_server.py
    # checks that the ports accept) have closed: the server may not have seen their close yet.
    poll(server, lambda s: all(s.get("perigee_connections_open", transport=t) == 0 for t in ("tcp", "websocket", "xhr-polling")))
    response, before = scrape(server)
    res.check("content type is text/plain; version=0.0.4",
              response.headers.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8",
              response.headers.get("Content-Type"))
    res.check("the baseline parses and has the hub's families",
              before.families.get("perigee_connections_opened") == "counter"
              and before.families.get("perigee_publish_to_write_seconds") == "histogram",
              sorted(before.families.items()))

    clients = []
    subscribers = []
    for kind, count in (("tcp", N_TCP), ("websocket", N_WS), ("xhr-polling", N_XHR)):
        for _ in range(count):
            c = open_client(kind, server)
            clients.append(c)
            f = c.connect()
            ok = f is not None and f.command == "CONNECTED"
            receipt = c.subscribe(dest) if ok else None
            res.check(f"{kind} subscriber connected and subscribed", ok and receipt is not None and receipt.command == "RECEIPT",
                      c.transcript())
            subscribers.append(c)
    # The hook denies one subscription: ERROR, and the session ends.
    denied = open_client("tcp", server)
    clients.append(denied)
    denied.connect()
    f = denied.subscribe(denied_dest)
    res.check("the subscribe hook denies one subscription", f is not None and f.command == "ERROR", denied.transcript())

    bodies = []
    for i in range(K_HTTP):
        body = f"http-{i}"
        bodies.append(body)
        r = requests.post(server.http_url + "/api/publish" + dest, data=body,
                          headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
        res.check(f"HTTP publish {i} accepted", r.status_code == 202, r.text)
    publisher = open_client("tcp", server)
    clients.append(publisher)
    publisher.connect()
    for i in range(K_STOMP):
        body = f"stomp-{i}"
        bodies.append(body)
        publisher.send(dest, body, receipt=f"p{i}")
        res.check(f"STOMP SEND {i} acknowledged", publisher.wait_command("RECEIPT", receipt_id=f"p{i}") is not None,
                  publisher.transcript())
    for c in subscribers:
        res.check(f"{c.kind} subscriber received all {len(bodies)} messages",
                  all(c.message(b) is not None for b in bodies), c.transcript())

    bad = open_client("tcp", server)
    clients.append(bad)
    bad.connect()
    bad.send_raw(b"FROB\n\n\x00")
    f = bad.wait_command("ERROR")
    res.check("a bad frame gets ERROR 'unknown command'", f is not None and f.headers.get("message") == "unknown command",
              bad.transcript())
    big = open_client("tcp", server)
    clients.append(big)
    big.connect()
    big.send_raw(b"SEND\ndestination:/topic/x\n\n" + b"x" * 2000 + b"\x00")
    f = big.wait_command("ERROR")
    res.check("a frame over 1,024 bytes gets ERROR 'frame too large'",
              f is not None and f.headers.get("message") == "frame too large", big.transcript())
    status = refused_handshake(server)
    res.check("a WebSocket handshake with version 8 is refused with 426", status.startswith("HTTP/1.1 426"), status)
    expired = jwt.encode({"sub": "late", "exp": int(time.time()) - 3600}, HS_SECRET, algorithm="HS256")
    late = open_client("tcp", server)
    clients.append(late)
    f = late.connect({"Authorization": f"Bearer {expired}"})
    res.check("an expired JWT is refused", f is not None and f.command == "ERROR", late.transcript())

    for c in clients:
        # DISCONNECT first: a SockJS polling session otherwise lives on until its held poll
        # times out (the heart-beat, 25 s). A connection the server closed already ignores it.
        c.send_frame("DISCONNECT")
        try:
            c.close()
        except Exception:  # noqa: BLE001 - already closed by the server
            pass

    def settled(s):
        return all(s.get("perigee_connections_open", transport=t) == before.get("perigee_connections_open", transport=t)
                   for t in ("tcp", "websocket", "xhr-polling")) and s.get("perigee_subscriptions") == before.get("perigee_subscriptions")

    after = poll(server, settled)
    res.check("connections and subscriptions return to the baseline", settled(after),
              {k: v for k, v in after.samples.items() if k[0] in ("perigee_connections_open", "perigee_subscriptions")})

    k = K_HTTP + K_STOMP
    n_tcp_connections = N_TCP + 5  # subscribers, denied, publisher, bad, big, late
    expected = [
        (("perigee_connections_opened_total", {"transport": "tcp"}), n_tcp_connections),
        (("perigee_connections_opened_total", {"transport": "websocket"}), N_WS),
        (("perigee_connections_opened_total", {"transport": "xhr-polling"}), N_XHR),
        (("perigee_handshakes_total", {"transport": "websocket"}), N_WS),
        (("perigee_handshakes_total", {"transport": "xhr-polling"}), N_XHR),
        (("perigee_handshake_failures_total", {"transport": "websocket", "reason": "version"}), 1),
        (("perigee_messages_received_total", {"transport": "tcp"}), K_STOMP),
        (("perigee_messages_sent_total", {"transport": "tcp"}), N_TCP * k),
        (("perigee_messages_sent_total", {"transport": "websocket"}), N_WS * k),
        (("perigee_messages_sent_total", {"transport": "xhr-polling"}), N_XHR * k),
        (("perigee_deliveries_total", {}), (N_TCP + N_WS + N_XHR) * k),
        (("perigee_api_publishes_total", {}), K_HTTP),
        (("perigee_stomp_errors_total", {"message": "unknown command"}), 1),
        (("perigee_stomp_errors_total", {"message": "frame too large"}), 1),
        (("perigee_limit_hits_total", {"limit": "frame_size"}), 1),
        (("perigee_jwt_failures_total", {"reason": "expired"}), 1),
        (("perigee_hook_calls_total", {"hook": "subscribe", "outcome": "allow"}), N_TCP + N_WS + N_XHR),
        (("perigee_hook_calls_total", {"hook": "subscribe", "outcome": "deny"}), 1),
        (("perigee_hook_duration_seconds_count", {"hook": "subscribe"}), N_TCP + N_WS + N_XHR + 1),
        (("perigee_slow_consumer_drops_total", {}), 0),
    ]
    for (name, labels), want in expected:
        got = after.get(name, **labels) - before.get(name, **labels)
        res.check(f"{name}{labels} moved by {want}", got == want, f"moved by {got} (before {before.get(name, **labels)}, after {after.get(name, **labels)})")

    samples = after.get("perigee_publish_to_write_seconds_count") - before.get("perigee_publish_to_write_seconds_count")
    loops = sum(1 for (name, _) in after.samples if name == "perigee_event_loop_lag_seconds")
    res.check(f"publish-to-write: one sample per message and loop ({k}..{k * max(loops, 1)})",
              k <= samples <= k * max(loops, 1), f"{samples} samples, {loops} loops")
    res.check("publish-to-write +Inf bucket equals its count",
              after.get("perigee_publish_to_write_seconds_bucket", le="+Inf") == after.get("perigee_publish_to_write_seconds_count"))
    for name in ("perigee_received_bytes_total", "perigee_sent_bytes_total"):
        got = after.get(name, transport="tcp") - before.get(name, transport="tcp")
        res.check(f"{name}{{transport=tcp}} grew", got > 0, got)
    res.check("an event-loop lag gauge per loop", loops >= 1 and after.get("perigee_event_loop_lag_seconds", loop="0") >= 0,
              loops)
    res.check("2xx HTTP answers were counted",
              after.get("perigee_http_requests_total", status_class="2xx") - before.get("perigee_http_requests_total", status_class="2xx") >= K_HTTP)
    deflate_session(res, server, dest, after)
    values = after.label_values()
    res.check("no destination is a label value", dest not in values and denied_dest not in values
              and "metrics-secret" not in after.text and "metrics-denied" not in after.text, sorted(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "metrics"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    res = Results()
    hooks = HookServer()
    path = os.path.join(args.out, "perigee-metrics.yaml")
    with open(path, "w") as f:
        f.write("# written by metrics_test.py\n" + config(hooks))
    server = PerigeeServer(os.path.join(args.out, "server.log"), config=path)
    started = time.monotonic()
    try:
        server.start()
        run(res, server, hooks)
    except Exception:  # noqa: BLE001 - reported as a failure with its traceback
        res.check("the scripted session ran to the end", False, traceback.format_exc() + server.log_tail())
    finally:
        server.stop()
        hooks.stop()
    print(f"[metrics] done in {time.monotonic() - started:.1f} s", flush=True)
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
