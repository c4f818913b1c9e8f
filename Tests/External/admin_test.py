#!/usr/bin/env python3
"""Issue 10 items 6 and 7 from the outside: the admin API and the $sys statistics topic.

The perigee binary (PERIGEE_BIN, default .build/debug/perigee, or PERIGEE_CMD with {port},
{stomp_port}, {config}) runs with an HS256 JWT secret and two API keys: `ops` with
`roles: [admin]` and `backend` without. User alice connects once on every transport
(stomp_transports.py: tcp, websocket, sockjs-websocket, xhr-streaming, xhr-polling,
eventsource, htmlfile, jsonp-polling) with a JWT whose `sub` is alice, and bob once over
WebSocket; all subscribe to /topic/news. Then, with `requests`:

- 401 without a key or with an unknown one, 403 with the non-admin key or a user's JWT, for
  every endpoint; GET /api/destinations is no longer public;
- GET /api/sessions?user=alice lists her eight sessions with their transports and
  subscriptions; DELETE .../subscriptions?destination= stops one session's deliveries;
- DELETE /api/users/alice/sessions answers {"disconnected": 8}; every alice client gets ERROR
  `disconnected by administrator` and its transport closes; bob keeps receiving;
- DELETE /api/sessions/<bob> ends bob's session, then answers 404; malformed percent-encoding
  answers 400;
- /topic/$sys.stats: the admin key reads a JSON snapshot a second; the other key's SUBSCRIBE
  and anyone's SEND (STOMP or HTTP) are refused.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import http.client
import json
import os
import sys
import time
import urllib.parse
import uuid

import jwt
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import PerigeeServer, Results, ServerError  # noqa: E402
from stomp_transports import KINDS, TIMEOUT, open_client  # noqa: E402

HS_SECRET = "admin-test-hs256-" + uuid.uuid4().hex + uuid.uuid4().hex
ADMIN_KEY = "admin-test-ops-" + uuid.uuid4().hex
BACKEND_KEY = "admin-test-backend-" + uuid.uuid4().hex
QUIET = 0.7  # how long "nothing arrives" is watched for, after a later marker arrived
NEWS = "/topic/news"


def token(sub):
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now - 1, "exp": now + 600}, HS_SECRET, algorithm="HS256")


def config():
    return f"""# written by admin_test.py
auth:
  jwt:
    hs256_secret: "{HS_SECRET}"
api_keys:
  backend: "{BACKEND_KEY}"
  ops: {{secret: "{ADMIN_KEY}", roles: [admin]}}
"""


class Admin:
    def __init__(self, server):
        self.base = server.http_url
        self.port = server.port
        self.http = requests.Session()

    def call(self, method, path, key=ADMIN_KEY, raw_authorization=None):
        headers = {}
        if raw_authorization is not None:
            headers["Authorization"] = raw_authorization
        elif key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.http.request(method, self.base + path, headers=headers, timeout=TIMEOUT)

    def publish(self, destination, body, key=BACKEND_KEY):
        return self.http.post(self.base + "/api/publish" + destination, data=body.encode("utf-8"),
                              headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"},
                              timeout=TIMEOUT)


def body_of(response):
    try:
        return response.json()
    except ValueError:
        return {"unparsed": response.text[:300]}


def connect_user(kind, server, user):
    client = open_client(kind, server)
    frame = client.connect({"Authorization": f"Bearer {token(user)}"})
    if frame is None or frame.command != "CONNECTED":
        raise RuntimeError(f"{user} over {kind}: CONNECT answered {frame!r}\n{client.transcript()}")
    receipt = client.subscribe(NEWS)
    if receipt is None or receipt.command != "RECEIPT":
        raise RuntimeError(f"{user} over {kind}: SUBSCRIBE answered {receipt!r}")
    return client


def test_who_may_ask(res, admin):
    endpoints = [
        ("GET", "/api/sessions"),
        ("GET", "/api/sessions?user=alice"),
        ("DELETE", "/api/sessions/session-none"),
        ("DELETE", "/api/users/nobody/sessions"),
        ("DELETE", "/api/sessions/session-none/subscriptions?destination=%2Ftopic%2Fnews"),
        ("GET", "/api/destinations"),
    ]
    for method, path in endpoints:
        cases = [
            ("no Authorization", dict(key=None), 401),
            ("an unknown key", dict(key="not-a-key-" + uuid.uuid4().hex), 401),
            ("the non-admin key", dict(key=BACKEND_KEY), 403),
            ("a user's JWT", dict(key=token("alice")), 403),
        ]
        for label, kw, status in cases:
            r = admin.call(method, path, **kw)
            res.check(f"{method} {path} with {label}: {status} and a JSON error",
                      r.status_code == status and isinstance(body_of(r).get("error"), str),
                      f"{r.status_code} {r.text[:300]}")
        r = admin.call(method, path)
        expected = 404 if "session-none" in path else 200
        res.check(f"{method} {path} with the admin key: {expected}", r.status_code == expected,
                  f"{r.status_code} {r.text[:300]}")


def test_list_and_unsubscribe(res, admin, alice, bob):
    r = admin.call("GET", "/api/sessions?user=alice")
    sessions = body_of(r).get("sessions", [])
    res.check("GET /api/sessions?user=alice lists 8 sessions", r.status_code == 200 and len(sessions) == 8,
              f"{r.status_code} {r.text[:2000]}")
    transports = sorted(s.get("transport") for s in sessions)
    res.check("alice's sessions are one per transport", transports == sorted(KINDS), transports)
    res.check("each lists kind jwt, user alice, subscriptions [/topic/news], connected",
              all(s.get("kind") == "jwt" and s.get("user") == "alice" and s.get("subscriptions") == [NEWS]
                  and s.get("connected") is True for s in sessions), json.dumps(sessions, indent=1)[:3000])
    res.check("each lists an address, an age and traffic counters",
              all(str(s.get("address", "")).startswith("127.0.0.1:") and isinstance(s.get("age_s"), (int, float))
                  and all(isinstance(s.get(k), int) for k in ("messages_in", "messages_out", "bytes_in", "bytes_out"))
                  for s in sessions), json.dumps(sessions, indent=1)[:3000])
    everyone = body_of(admin.call("GET", "/api/sessions")).get("sessions", [])
    res.check("GET /api/sessions lists bob too", any(s.get("user") == "bob" for s in everyone), everyone)

    r = admin.call("GET", "/api/destinations")
    listed = {d.get("destination"): d.get("subscribers") for d in body_of(r).get("destinations", [])}
    res.check("GET /api/destinations counts 9 subscribers of /topic/news", listed.get(NEWS) == 9, listed)

    ws_id = next((s["id"] for s in sessions if s.get("transport") == "websocket"), None)
    r = admin.call("DELETE", f"/api/sessions/{ws_id}/subscriptions?destination=" + urllib.parse.quote(NEWS, safe=""))
    res.check("DELETE .../subscriptions?destination=%2Ftopic%2Fnews answers {\"unsubscribed\": 1}",
              r.status_code == 200 and body_of(r) == {"unsubscribed": 1}, f"{r.status_code} {r.text}")
    marker = "after-unsubscribe-" + uuid.uuid4().hex[:6]
    published = admin.publish(NEWS, marker)
    res.check("the publish after the unsubscribe is accepted", published.status_code == 202, published.text)
    others = {kind: alice[kind].message(marker) is not None for kind in KINDS if kind != "websocket"}
    res.check("alice's other seven sessions still receive", all(others.values()), others)
    res.check("bob still receives", bob.message(marker) is not None, bob.transcript())
    time.sleep(QUIET)
    res.check("the unsubscribed session receives nothing", alice["websocket"].message(marker, timeout=0.1) is None,
              alice["websocket"].transcript())
    r = admin.call("DELETE", "/api/sessions/session-none/subscriptions?destination=%2Ftopic%2Fnews")
    res.check("unsubscribing an unknown session: 404", r.status_code == 404, f"{r.status_code} {r.text}")


def test_disconnect_user(res, admin, alice, bob):
    r = admin.call("DELETE", "/api/users/alice/sessions")
    res.check("DELETE /api/users/alice/sessions answers {\"disconnected\": 8}",
              r.status_code == 200 and body_of(r) == {"disconnected": 8}, f"{r.status_code} {r.text}")
    for kind in KINDS:
        client = alice[kind]
        error = client.wait(lambda f: f.command == "ERROR")
        res.check(f"alice over {kind} gets ERROR 'disconnected by administrator'",
                  error is not None and error.headers.get("message") == "disconnected by administrator",
                  client.transcript())
        res.check(f"alice over {kind}: the transport closes", client.wait_closed(TIMEOUT), client.transcript())
    marker = "after-ban-" + uuid.uuid4().hex[:6]
    admin.publish(NEWS, marker)
    res.check("bob keeps receiving", bob.message(marker) is not None, bob.transcript())
    res.check("bob's session is still open", not bob.is_closed(), bob.transcript())
    deadline = time.monotonic() + TIMEOUT
    left = None
    while time.monotonic() < deadline:
        left = body_of(admin.call("GET", "/api/sessions?user=alice")).get("sessions")
        if left == []:
            break
        time.sleep(0.1)
    res.check("alice has no session left", left == [], left)
    r = admin.call("DELETE", "/api/users/alice/sessions")
    res.check("a second DELETE answers {\"disconnected\": 0}", r.status_code == 200 and body_of(r) == {"disconnected": 0},
              f"{r.status_code} {r.text}")


def test_disconnect_session(res, admin, bob):
    sessions = body_of(admin.call("GET", "/api/users/bob/sessions")).get("sessions", [])
    bob_id = sessions[0]["id"] if sessions else "missing"
    r = admin.call("DELETE", "/api/sessions/" + urllib.parse.quote(bob_id, safe=""))
    res.check("DELETE /api/sessions/<bob> answers {\"disconnected\": 1}",
              r.status_code == 200 and body_of(r) == {"disconnected": 1}, f"{r.status_code} {r.text}")
    error = bob.wait(lambda f: f.command == "ERROR")
    res.check("bob gets ERROR 'disconnected by administrator' and the connection closes",
              error is not None and error.headers.get("message") == "disconnected by administrator"
              and bob.wait_closed(TIMEOUT), bob.transcript())
    r = admin.call("DELETE", "/api/sessions/" + urllib.parse.quote(bob_id, safe=""))
    res.check("DELETE of that session again: 404", r.status_code == 404, f"{r.status_code} {r.text}")
    # http.client sends the path as it is (requests would re-quote a stray % as %25).
    for path in ("/api/users/%zz/sessions", "/api/users/%C3%28/sessions", "/api/users/" + "u" * 300 + "/sessions",
                 "/api/sessions/x/subscriptions?destination=%2"):
        connection = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=TIMEOUT)
        connection.request("DELETE", path, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        answer = connection.getresponse()
        text = answer.read().decode("utf-8", "replace")
        connection.close()
        res.check(f"DELETE {path[:48]}: 400 with a JSON error", answer.status == 400 and '"error"' in text,
                  f"{answer.status} {text}")


def test_sys_topic(res, server, admin):
    watcher = open_client("websocket", server)
    frame = watcher.connect({"passcode": ADMIN_KEY})
    res.check("the admin key connects over WebSocket", frame is not None and frame.command == "CONNECTED",
              watcher.transcript())
    receipt = watcher.subscribe("/topic/$sys.stats")
    res.check("the admin key may SUBSCRIBE to /topic/$sys.stats", receipt is not None and receipt.command == "RECEIPT",
              watcher.transcript())
    first = watcher.wait(lambda f: f.command == "MESSAGE", timeout=3)
    second = first and watcher.wait(lambda f: f.command == "MESSAGE" and f is not first, timeout=3)
    snapshot = {}
    try:
        snapshot = json.loads(second.body) if second else {}
    except ValueError:
        pass
    res.check("a JSON snapshot arrives every second",
              second is not None and 0.5 < second.at - first.at < 1.8, watcher.transcript()[-2000:])
    res.check("the snapshot has the documented fields",
              all(k in snapshot for k in ("t", "transports", "sessions", "subscriptions", "slow_consumer_drops",
                                          "errors", "limits", "deliveries"))
              and snapshot.get("transports", {}).get("websocket", {}).get("open", 0) >= 1, snapshot)
    res.check("it counts the ERROR frames sent so far",
              snapshot.get("errors", {}).get("disconnected by administrator", 0) >= 9, snapshot.get("errors"))
    watcher.send("/topic/$sys.stats", "{}")
    error = watcher.wait(lambda f: f.command == "ERROR")
    res.check("SEND to /topic/$sys.stats, even by an admin: ERROR permission denied",
              error is not None and error.headers.get("message") == "permission denied", watcher.transcript()[-1500:])
    watcher.close()

    for label, key in (("the non-admin key", BACKEND_KEY), ("a user's JWT", None)):
        client = open_client("xhr-streaming", server)
        headers = {"passcode": key} if key else {"Authorization": f"Bearer {token('carol')}"}
        client.connect(headers)
        answer = client.subscribe("/topic/$sys.stats")
        res.check(f"{label} may not SUBSCRIBE to /topic/$sys.stats (ERROR permission denied)",
                  answer is not None and answer.command == "ERROR" and answer.headers.get("message") == "permission denied",
                  client.transcript())
        client.close()
    r = admin.publish("/topic/$sys.stats", "{}", key=ADMIN_KEY)
    res.check("POST /api/publish/topic/$sys.stats with the admin key: 403", r.status_code == 403, f"{r.status_code} {r.text}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "admin"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "perigee-admin.yaml")
    with open(path, "w") as f:
        f.write(config())
    server = PerigeeServer(os.path.join(args.out, "server.log"), config=path)
    res = Results()
    clients = []
    started = time.monotonic()
    try:
        server.start()
        print(f"[admin] server http={server.port} stomp={server.stomp_port}; log {server.log_path}", flush=True)
        admin = Admin(server)
        test_who_may_ask(res, admin)
        alice = {kind: connect_user(kind, server, "alice") for kind in KINDS}
        bob = connect_user("websocket", server, "bob")
        clients += list(alice.values()) + [bob]
        test_list_and_unsubscribe(res, admin, alice, bob)
        test_disconnect_user(res, admin, alice, bob)
        test_disconnect_session(res, admin, bob)
        test_sys_topic(res, server, admin)
    except (ServerError, RuntimeError, requests.RequestException, OSError) as e:
        res.check("the run completes", False, f"{e!r}\n{server.log_tail()}")
    finally:
        for client in clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001
                pass
        server.stop()
    print(f"[admin] done in {time.monotonic() - started:.1f} s", flush=True)
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
