"""Issue 10 from the outside: the graceful drain of the real binary on SIGTERM.

One STOMP subscriber per transport (stomp_transports.KINDS: tcp, websocket, sockjs-websocket,
xhr-streaming, xhr-polling, eventsource, htmlfile, jsonp-polling) on one topic; two publishers
that publish continuously, over HTTP (each 202 recorded with the time it arrived) and over
STOMP/TCP SEND with a receipt (each RECEIPT recorded likewise); SIGTERM mid-stream. Then:

- every subscriber received every message whose 202 or RECEIPT arrived before the SIGTERM was
  sent, in each publisher's order, and after them its transport's goodbye: ERROR
  `message:server shutting down` (every transport), then close 1001 (WebSocket),
  `c[3000,"Go away!"]` (SockJS), the end of the connection (TCP);
- /readyz answered 503 {"status":"draining"} during the drain; a new connection was refused;
- the process exited with status 0 within the drain timeout plus a small margin, and logged
  the drain's start and end.

A SockJS polling session that stops polling keeps HTTP connections serving for the disconnect
delay (it is owed its close frame), which is the readiness probe's window; a connection in the
middle of a request (a head announcing a body that never comes) keeps the drain waiting until
its deadline, and is closed by force then ("still_open=1" in the log line).

    Tests/External/drain_test.sh   (PERIGEE_BIN or PERIGEE_CMD as for perigee_server.py)

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import os
import signal
import socket
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import PerigeeServer, Results  # noqa: E402
from stomp_transports import KINDS, TcpClient, open_client  # noqa: E402

TOPIC = "/topic/drain"
DRAIN_TIMEOUT_S = 6
EXIT_MARGIN_S = 3.0


class HttpPublisher(threading.Thread):
    """POSTs h-1, h-2, ... over one keep-alive connection; records when each 202 arrived."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.url = f"{server.http_url}/api/publish{TOPIC}"
        self.session = requests.Session()
        self.session.trust_env = False
        self.acked = []          # (body, monotonic time of the 202)
        self.refusals = []       # status codes other than 202, or errors
        self.stop = False

    def run(self):
        n = 0
        while not self.stop:
            n += 1
            body = f"h-{n}"
            try:
                r = self.session.post(self.url, data=body, timeout=5)
            except requests.RequestException as e:
                self.refusals.append(repr(e))
                return
            if r.status_code == 202:
                self.acked.append((body, time.monotonic()))
            else:
                self.refusals.append(r.status_code)
                return
            time.sleep(0.002)


class StompPublisher(threading.Thread):
    """SENDs s-1, s-2, ... with a receipt each over STOMP/TCP, one at a time; records when each
    RECEIPT arrived."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.client = TcpClient(server)
        connected = self.client.connect()
        if connected is None or connected.command != "CONNECTED":
            raise OSError(f"publisher CONNECT answered {connected!r}")
        self.acked = []
        self.stop = False
        self.ended_with = None

    def run(self):
        n = 0
        while not self.stop:
            n += 1
            body = f"s-{n}"
            receipt = f"p-{n}"
            if not self.client.send_frame("SEND", {"destination": TOPIC, "receipt": receipt}, body.encode()):
                self.ended_with = "send failed"
                return
            f = self.client.wait(lambda f: f.headers.get("receipt-id") == receipt or f.command == "ERROR", 5)
            if f is None or f.command != "RECEIPT":
                self.ended_with = f
                return
            self.acked.append((body, f.at))
            time.sleep(0.002)


class ReadinessProbe(threading.Thread):
    """Asks GET /readyz every 5 ms over a keep-alive connection from `start()` on; keeps every
    answer (status, body) until the connection goes."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.url = f"{server.http_url}/readyz"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.get(self.url, timeout=5)  # opens the connection before the signal
        self.answers = []
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                r = self.session.get(self.url, timeout=5)
            except requests.RequestException as e:
                self.answers.append(("error", repr(e)))
                return
            self.answers.append((r.status_code, r.text.strip()))
            time.sleep(0.005)


def idle_polling_session(server):
    """A SockJS xhr-polling session whose client polls once and then never again: it owes that
    client its close frame until the disconnect delay (5 s), and until then the drain keeps
    HTTP connections serving (polls of existing sessions), the readiness probe's among them."""
    session = requests.Session()
    session.trust_env = False
    r = session.post(f"{server.http_url}/stomp/000/idle{os.getpid()}/xhr", timeout=5)
    if r.text.strip() != "o":
        raise OSError(f"idle polling session: {r.status_code} {r.text[:100]!r}")
    return session


def stuck_request(server):
    """A connection in the middle of a request: the drain cannot close it before its deadline."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(b"POST /api/publish/topic/other HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
    return s


def run(res, out):
    config = os.path.join(out, "perigee-drain.yaml")
    with open(config, "w") as f:
        # Anonymous clients may publish here: the publishers need no credentials.
        f.write(f"drain:\n  timeout_s: {DRAIN_TIMEOUT_S}\n"
                "access:\n  anonymous: {subscribe: [\"/topic/**\"], send: [\"/topic/**\"]}\n")
    server = PerigeeServer(os.path.join(out, "server.log"), config=config)
    server.start()
    subscribers = {}
    try:
        for kind in KINDS:
            c = open_client(kind, server)
            connected = c.connect()
            if connected is None or connected.command != "CONNECTED":
                res.check(f"{kind}: connected", False, repr(connected))
                continue
            answer = c.subscribe(TOPIC, sub_id="sub")
            if res.check(f"{kind}: subscribed", answer is not None and answer.command == "RECEIPT", repr(answer)):
                subscribers[kind] = c
        idle = idle_polling_session(server)
        stuck = stuck_request(server)
        probe = ReadinessProbe(server)
        http_pub = HttpPublisher(server)
        stomp_pub = StompPublisher(server)
        http_pub.start()
        stomp_pub.start()
        # Mid-stream: wait until both publishers have been answered a few dozen times.
        deadline = time.monotonic() + 20
        while (len(http_pub.acked) < 30 or len(stomp_pub.acked) < 30) and time.monotonic() < deadline:
            time.sleep(0.01)
        proc = server.proc
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        probe.start()
        refused_connection = None
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
                time.sleep(0.01)
            except OSError as e:
                refused_connection = repr(e)
                break
        try:
            status = proc.wait(timeout=DRAIN_TIMEOUT_S + EXIT_MARGIN_S + 5)
        except Exception:  # noqa: BLE001
            status = None
        exited = time.monotonic()
        server.proc = None if status is not None else proc
        http_pub.stop = stomp_pub.stop = probe.stop = True
        stuck.close()
        idle.close()

        res.check("exit status 0", status == 0, f"status {status}; log:\n{server.log_tail()}")
        elapsed = exited - signalled
        res.check(f"exited within the drain timeout ({DRAIN_TIMEOUT_S} s) plus {EXIT_MARGIN_S} s",
                  elapsed <= DRAIN_TIMEOUT_S + EXIT_MARGIN_S, f"{elapsed:.2f} s")
        res.check("a new connection was refused during the drain", refused_connection is not None)
        draining = [a for a in probe.answers if a[0] == 503]
        res.check("/readyz answered 503 {\"status\":\"draining\"} during the drain",
                  any(body == '{"status":"draining"}' for _, body in draining), repr(probe.answers[:5]))
        res.check("/readyz never said ready after the signal had been handled",
                  all(a[0] != 200 for a in probe.answers[probe.answers.index(draining[0]):]) if draining else False,
                  repr(probe.answers))
        log = open(server.log_path, errors="replace").read()
        res.check("the log has the drain's start and end lines",
                  "drain: started" in log and any("drain: finished" in line and "still_open=1" in line for line in log.splitlines()),
                  log[-2000:])

        http_before = [b for b, at in http_pub.acked if at < signalled]
        stomp_before = [b for b, at in stomp_pub.acked if at < signalled]
        res.check("publishers were answered before the signal",
                  len(http_before) >= 30 and len(stomp_before) >= 30, f"{len(http_before)} / {len(stomp_before)}")
        print(f"  info  answered before the signal: {len(http_before)} over HTTP, {len(stomp_before)} over STOMP; "
              f"after it: {len(http_pub.acked) - len(http_before)} and {len(stomp_pub.acked) - len(stomp_before)}; "
              f"HTTP publisher ended with {http_pub.refusals[-1:]}, STOMP with {stomp_pub.ended_with!r}", flush=True)
        for kind, c in subscribers.items():
            c.wait_closed(5)
            with c.cond:
                frames = list(c.frames)
            bodies = [f.body.decode("utf-8", "replace") for f in frames if f.command == "MESSAGE"]
            for label, before, prefix in (("HTTP", http_before, "h-"), ("STOMP", stomp_before, "s-")):
                got = [b for b in bodies if b.startswith(prefix)]
                missing = [b for b in before if b not in got]
                res.check(f"{kind}: every {label} publish answered before the signal arrived, in order",
                          not missing and got[:len(before)] == before,
                          f"{len(missing)} missing, first {missing[:3]}; got {got[:5]}...")
            last = frames[-1] if frames else None
            res.check(f"{kind}: the last frame is ERROR message:server shutting down",
                      last is not None and last.command == "ERROR" and last.headers.get("message") == "server shutting down",
                      repr(frames[-3:]))
            reason = c.close_reason or ""
            if kind == "websocket":
                expected = "1001"
            elif kind == "tcp":
                expected = "eof"
            else:
                expected = 'c[3000,"Go away!"]'
            res.check(f"{kind}: then its transport's close ({expected})", c.is_closed() and expected in reason, reason)
    finally:
        for c in subscribers.values():
            c.close()
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "drain"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    res = Results()
    try:
        run(res, args.out)
    except Exception as e:  # noqa: BLE001
        res.check("the drain test ran to its end", False, repr(e))
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
