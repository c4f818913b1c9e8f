#!/usr/bin/env python3
"""Issue 10, item 3 from the outside: structured logs hold no secrets, and each line is one event.

Starts the perigee binary (PERIGEE_BIN, default .build/debug/perigee, or PERIGEE_CMD with {port},
{stomp_port}, {config}) twice with a configuration that has an API key, an HS256 JWT secret and
a connect hook whose URL carries a secret query parameter (our own hook_server.py):

  json  --log-format json --log-level debug on the command line, over a file that says
        `log: {format: text, level: warning}` (flags win)
  text  PERIGEE_LOG_FORMAT=text PERIGEE_LOG_LEVEL=debug in the environment, over the same file

Each run plays one scripted session with real clients (stomp_transports.py, requests, a raw
socket): STOMP CONNECT with the API key as passcode and with a wrong passcode; a JWT in the
CONNECT Authorization header; a JWT in ?token= on the WebSocket URL and on SockJS URLs
(sockjs-websocket, xhr-streaming); a forged JWT in ?token=; HTTP publish with
`Authorization: Bearer <key>` and a Cookie header, and with a forged JWT; a malformed HTTP request
whose request line carries ?token=; a connect the hook fails (HTTP 500). Then the server is
stopped and everything it wrote is checked:

  - none of the secrets appears (passcodes, the API key secret, the JWTs and their signatures,
    the HS256 secret, the cookie value, the hook URL's secret): neither whole nor as the JWT's
    signature segment;
  - json: every line the server wrote is a JSON object with ts, level, label, msg;
    text: every line is one event (`TIMESTAMP LEVEL ...`), none is a continuation;
  - notice lines exist for the refused credential, the refused token, the malformed request and
    the failed hook call; the malformed request's line names no query string.

Also: an invalid --log-level and an invalid PERIGEE_LOG_FORMAT stop the binary with status 2 and
a precise message. Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import traceback
import uuid

import jwt
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hook_server import HookServer, Reply, allow  # noqa: E402
from perigee_server import REPO_ROOT, PerigeeServer, Results, ServerError  # noqa: E402
from stomp_transports import open_client  # noqa: E402

API_KEY = "logtest-apikey-" + uuid.uuid4().hex
HS_SECRET = "logtest-hs256-" + uuid.uuid4().hex + uuid.uuid4().hex
BAD_PASSCODE = "logtest-badpass-" + uuid.uuid4().hex
COOKIE_VALUE = "logtest-cookie-" + uuid.uuid4().hex
HOOK_SECRET = "logtest-hookkey-" + uuid.uuid4().hex
LEVELS = ("trace", "debug", "info", "notice", "warning", "error", "critical")
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (%s) \S" % "|".join(LEVELS))


def token(sub, secret=HS_SECRET):
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, secret, algorithm="HS256")


GOOD_JWT = token("alice")
FORGED_JWT = token("mallory", secret="logtest-wrong-secret-" + uuid.uuid4().hex)
SECRETS = {
    "API key secret": API_KEY,
    "HS256 secret": HS_SECRET,
    "wrong passcode": BAD_PASSCODE,
    "cookie value": COOKIE_VALUE,
    "hook URL secret": HOOK_SECRET,
    "valid JWT": GOOD_JWT,
    "valid JWT's signature": GOOD_JWT.rsplit(".", 1)[1],
    "forged JWT": FORGED_JWT,
    "forged JWT's signature": FORGED_JWT.rsplit(".", 1)[1],
}


class LoggingServer(PerigeeServer):
    """PerigeeServer with extra command-line arguments and environment variables."""

    def __init__(self, *args, extra_args=(), extra_env=None, **kw):
        super().__init__(*args, **kw)
        self.extra_args = list(extra_args)
        self.extra_env = dict(extra_env or {})

    @property
    def command(self):
        base = PerigeeServer.command.fget(self)
        return " ".join([base] + [shlex.quote(a) for a in self.extra_args])

    def start(self):
        saved = {k: os.environ.get(k) for k in self.extra_env}
        os.environ.update(self.extra_env)
        try:
            super().start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def write_config(out, hooks):
    path = os.path.join(out, "perigee-logs.yaml")
    with open(path, "w") as f:
        f.write(f"""log: {{format: text, level: warning}}
api_keys:
  backend: "{API_KEY}"
auth:
  jwt:
    hs256_secret: "{HS_SECRET}"
hooks:
  connect: "{hooks.url}?hook_key={HOOK_SECRET}"
  timeout_ms: 2000
""")
    return path


def connect_hook(req):
    # The hook never sees login, passcode or Authorization; a CONNECT header
    # `x-scenario: hook-broken` makes it fail (HTTP 500).
    headers = (req.json or {}).get("stomp_headers") or {}
    if headers.get("x-scenario") == "hook-broken":
        return Reply(500, {"error": "scripted failure"})
    return allow()


def session(r, server, tag):
    """The scripted session; each step's outcome is checked too, so that a silent step (which
    would log nothing) cannot pass for a clean log."""
    cookie = {"Cookie": f"session={COOKIE_VALUE}"}

    def stomp(kind, name, expect, headers=None, tok=None, http_headers=None):
        client = None
        try:
            client = open_client(kind, server, token=tok, http_headers=http_headers)
            frame = client.connect(headers or {})
            got = frame.command if frame else None
            r.check(f"{tag}: {name} -> {expect}", got == expect, f"got {got}: {frame!r}")
        except Exception:  # noqa: BLE001
            r.check(f"{tag}: {name} -> {expect}", False, traceback.format_exc())
        finally:
            if client is not None:
                client.close()

    stomp("tcp", "STOMP/TCP CONNECT with the API key as passcode", "CONNECTED",
          {"login": "backend", "passcode": API_KEY})
    stomp("tcp", "STOMP/TCP CONNECT with a wrong passcode", "ERROR", {"login": "eve", "passcode": BAD_PASSCODE})
    stomp("websocket", "WebSocket CONNECT with a JWT in Authorization", "CONNECTED",
          {"Authorization": f"Bearer {GOOD_JWT}"}, http_headers=cookie)
    stomp("websocket", "WebSocket with a JWT in ?token=", "CONNECTED", tok=GOOD_JWT, http_headers=cookie)
    stomp("websocket", "WebSocket with a forged JWT in ?token=", "ERROR", tok=FORGED_JWT)
    stomp("sockjs-websocket", "SockJS websocket with a JWT in ?token=", "CONNECTED", tok=GOOD_JWT)
    stomp("xhr-streaming", "SockJS xhr-streaming with a JWT in ?token=", "CONNECTED", tok=GOOD_JWT, http_headers=cookie)
    stomp("tcp", "STOMP/TCP CONNECT the hook fails", "ERROR", {"x-scenario": "hook-broken"})

    http = requests.Session()
    http.trust_env = False
    url = f"{server.http_url}/api/publish/topic/logs"
    ok = http.post(url, data=b"hello", headers={"Authorization": f"Bearer {API_KEY}", **cookie}, timeout=5)
    r.check(f"{tag}: HTTP publish with the API key and a cookie -> 202", ok.status_code == 202, ok.text)
    forged = http.post(url + f"?token={FORGED_JWT}", data=b"x",
                       headers={"Authorization": f"Bearer {FORGED_JWT}", **cookie}, timeout=5)
    r.check(f"{tag}: HTTP publish with a forged JWT -> 401", forged.status_code == 401, forged.text)

    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(f"GET /stomp?token={GOOD_JWT} HTTP/1.1\r\nHost: x\r\nCookie: {COOKIE_VALUE}\r\nBad Header\r\n\r\n"
                  .encode())
        answer = s.recv(4096).decode("latin-1")
    r.check(f"{tag}: a malformed request -> 400", answer.startswith("HTTP/1.1 400"), answer[:200])


def server_lines(path):
    """What the server wrote: the log file less the harness's own start line and the
    `perigee listening on` banner (standard output, not a log line)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [l for l in lines if not l.startswith("--- starting:") and not l.startswith("perigee listening on ")]


def check_log(r, tag, path, fmt):
    with open(path, encoding="utf-8", errors="replace") as f:
        whole = f.read()
    leaked = [name for name, secret in SECRETS.items() if secret in whole]
    r.check(f"{tag}: no secret in the log ({len(SECRETS)} looked for)", not leaked, f"found: {leaked}")
    r.check(f"{tag}: no query string ?token= in the log", "token=" not in whole,
            [l for l in whole.splitlines() if "token=" in l][:5])
    lines = server_lines(path)
    r.check(f"{tag}: the server logged something", len(lines) >= 5, whole[-2000:])
    events = []
    if fmt == "json":
        bad = []
        for line in lines:
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict) or not all(k in obj for k in ("ts", "level", "label", "msg")):
                    bad.append(line)
                else:
                    events.append(obj)
            except ValueError:
                bad.append(line)
        r.check(f"{tag}: every line is a JSON object with ts, level, label, msg ({len(lines)} lines)", not bad, bad[:5])
        r.check(f"{tag}: the flag's level wins over the file's warning",
                any(e["level"] in ("info", "notice") for e in events), [e["level"] for e in events][:10])
    else:
        bad = [l for l in lines if not TEXT_LINE.match(l)]
        r.check(f"{tag}: every line is one event: TIMESTAMP LEVEL ... ({len(lines)} lines)", not bad, bad[:5])
        for line in lines:
            m = TEXT_LINE.match(line)
            if not m:
                continue
            fields = dict(re.findall(r' ([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S+)', line))
            msg = line[m.end() - 1:].split(": ", 1)[1] if ": " in line[m.end() - 1:] else ""
            events.append({"level": m.group(1), "line": line, "msg": msg,
                           **{k: v.strip('"') for k, v in fields.items()}})

    if fmt == "text":
        r.check(f"{tag}: the environment's level wins over the file's warning",
                any(e["level"] in ("info", "notice") for e in events), [e["level"] for e in events][:10])

    def notice(what, pred):
        found = [e for e in events if e["level"] == "notice" and pred(e)]
        r.check(f"{tag}: a notice line for {what}", bool(found), [e.get("line", e) for e in events][-15:])
        return found

    notice("the refused passcode", lambda e: e["msg"].startswith("credential refused"))
    notice("the forged token (reason only)", lambda e: e["msg"].startswith("token refused")
           and "signature" in str(e.get("reason", "")))
    malformed = notice("the malformed request (400)", lambda e: e["msg"].startswith("request refused")
                       and str(e.get("status")) == "400")
    r.check(f"{tag}: the malformed request's line has a connection id and an address",
            any(str(e.get("connection", "")).startswith("http-") and e.get("address") == "127.0.0.1" for e in malformed),
            malformed)
    notice("the forged JWT on HTTP (401, path without query)", lambda e: e["msg"].startswith("request refused")
           and str(e.get("status")) == "401" and e.get("path") == "/api/publish/topic/logs")
    notice("the failed hook call (URL without its query)", lambda e: e["msg"].startswith("hook call failed")
           and e.get("hook") == "connect" and "hook_key" not in str(e.get("url", "x"))
           and str(e.get("url", "")).startswith("http://127.0.0.1:"))


def run(r, out, hooks, fmt, extra_args, extra_env):
    tag = fmt
    config = write_config(out, hooks)
    log = os.path.join(out, f"server-{fmt}.log")
    server = LoggingServer(log, config=config, extra_args=extra_args, extra_env=extra_env)
    try:
        server.start()
    except ServerError as e:
        r.check(f"{tag}: server starts", False, str(e))
        return
    try:
        session(r, server, tag)
    finally:
        server.stop()
    check_log(r, tag, log, fmt)


def refused_settings(r, out):
    binary = os.environ.get("PERIGEE_BIN", ".build/debug/perigee")
    path = binary if os.path.isabs(binary) else os.path.join(REPO_ROOT, binary)
    if os.environ.get("PERIGEE_CMD"):
        return  # another server: its flags are its own
    cases = [
        ("--log-level loud", [path, "--port", "0", "--stomp-port", "0", "--log-level", "loud"], {},
         'command line: --log-level: expected one of trace, debug, info, notice, warning, error, critical, got "loud"'),
        ("PERIGEE_LOG_FORMAT=xml", [path, "--port", "0", "--stomp-port", "0"], {"PERIGEE_LOG_FORMAT": "xml"},
         'environment: PERIGEE_LOG_FORMAT: expected text or json, got "xml"'),
    ]
    for name, args, env, message in cases:
        proc = subprocess.run(args, cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
        r.check(f"{name} is refused with status 2 and a precise message",
                proc.returncode == 2 and message in proc.stderr, f"status {proc.returncode}: {proc.stderr[-500:]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO_ROOT, "Tests", "External", "out", "logs"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    r = Results()
    hooks = HookServer()
    hooks.reset(connect=connect_hook)
    try:
        refused_settings(r, args.out)
        run(r, args.out, hooks, "json", ["--log-format", "json", "--log-level", "debug"], {})
        run(r, args.out, hooks, "text", [], {"PERIGEE_LOG_FORMAT": "text", "PERIGEE_LOG_LEVEL": "debug"})
    except Exception:  # noqa: BLE001
        r.check("the test ran to its end", False, traceback.format_exc())
    finally:
        hooks.stop()
    print(r.tally())
    sys.exit(0 if r.failed == 0 else 1)


if __name__ == "__main__":
    main()
