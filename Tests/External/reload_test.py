#!/usr/bin/env python3
"""Configuration reload on SIGHUP with the real binary and third-party clients.

Starts the server (perigee_server.py: PERIGEE_BIN, default .build/debug/perigee) with a
configuration file on free ports and checks:
  - a stomp.py STOMP/TCP subscriber and a websockets STOMP-over-WebSocket subscriber receive an
    HTTP publish made with API key A (requests, 202);
  - the file is rewritten (key A removed, key B added, anonymous clients no longer allowed to
    SUBSCRIBE to /topic/private/**) and the process gets SIGHUP: once key B is accepted, key A
    is refused, the two connections opened before the reload are still open and receive a
    message published with key B, and a new anonymous SUBSCRIBE to /topic/private/x gets ERROR;
  - an invalid file and SIGHUP: the log holds the error text `perigee --check-config` prints
    for that file, the process is alive, key B still works and the subscribers still receive.
Waits by polling, never for a fixed time. Exit status 0 only if every check passed; the last
line is `N passed, N failed`.
"""
import argparse
import contextlib
import os
import signal
import subprocess
import sys
import traceback
import uuid

import requests
import stomp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import REPO_ROOT, PerigeeServer, Results, wait_for  # noqa: E402
from stomp_py_listener import Collector  # noqa: E402
from stomp_transports import open_client  # noqa: E402

TIMEOUT = 10.0
KEY_A = "reload-a-" + uuid.uuid4().hex
KEY_B = "reload-b-" + uuid.uuid4().hex
TOPIC = "/topic/reload"


def configuration(keys, private_readable):
    """The YAML the server reads: API keys by name, and whether anonymous clients may read
    /topic/private/**."""
    anonymous = '["/topic/**"]' if private_readable else '["/topic/reload", "/topic/public/**"]'
    lines = ["# written by reload_test.py", "api_keys:"]
    lines += [f'  {name}: "{secret}"' for name, secret in keys.items()]
    lines += ["access:", "  anonymous:", f"    subscribe: {anonymous}", '    send: ["/topic/shouts"]',
              "  api_key:", '    subscribe: ["/**"]', '    send: ["/**"]']
    return "\n".join(lines) + "\n"


def write(path, text):
    """Replaces the file atomically, as a deploy tool would."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def publish(server, key, body):
    return requests.post(f"{server.http_url}/api/publish{TOPIC}", data=body.encode(),
                         headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"},
                         timeout=TIMEOUT).status_code


def stomp_subscriber(server, destination, receipt="sub"):
    """An anonymous stomp.py STOMP/TCP connection subscribing to `destination` with a receipt."""
    conn = stomp.Connection12([("127.0.0.1", server.stomp_port)], vhost="/", heartbeats=(0, 0))
    collector = Collector()
    conn.set_listener("collector", collector)
    conn.connect(wait=True)
    conn.subscribe(destination, id="1", receipt=receipt)
    return conn, collector


def ws_subscriber(server, destination):
    """An anonymous STOMP-over-WebSocket client (stomp_transports: the websockets library)
    subscribed to `destination`."""
    client = open_client("websocket", server)
    connected = client.connect()
    if connected is None or connected.command != "CONNECTED":
        raise RuntimeError(f"no CONNECTED over WebSocket: {client.transcript()}")
    answer = client.subscribe(destination)
    if answer is None or answer.command != "RECEIPT":
        raise RuntimeError(f"no RECEIPT for SUBSCRIBE over WebSocket: {client.transcript()}")
    return client


def logged_form(text):
    """`text` as a text-format log line carries a quoted value: backslashes and quotes escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def check_config_output(path):
    """What `perigee --check-config` prints for `path`, without its `perigee: ` prefix."""
    binary = os.environ.get("PERIGEE_BIN", ".build/debug/perigee")
    binary = binary if os.path.isabs(binary) else os.path.join(REPO_ROOT, binary)
    run = subprocess.run([binary, "--check-config", path], capture_output=True, text=True, timeout=30)
    text = (run.stdout + run.stderr).strip()
    return run.returncode, text.removeprefix("perigee: ")


def log_since(server, offset):
    with open(server.log_path, errors="replace") as f:
        return f.read()[offset:]


def log_size(server):
    with open(server.log_path, errors="replace") as f:
        return len(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "reload"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    res = Results()
    config = os.path.join(args.out, "perigee-reload.yaml")
    server = None
    connections = []
    try:
        write(config, configuration({"a": KEY_A}, private_readable=True))
        server = PerigeeServer(os.path.join(args.out, "server.log"), config=config)
        server.start()
        print(f"[reload] server http={server.port} stomp={server.stomp_port}; log {server.log_path}", flush=True)

        print("[reload] before the reload", flush=True)
        tcp, tcp_collector = stomp_subscriber(server, TOPIC)
        connections.append(tcp)
        res.check("stomp.py STOMP/TCP subscriber gets its RECEIPT", tcp_collector.wait(lambda: "sub" in tcp_collector.receipts))
        ws = ws_subscriber(server, TOPIC)
        connections.append(ws)
        res.check("HTTP publish with key A: 202", publish(server, KEY_A, "with a") == 202)
        res.check("HTTP publish with key B: refused", publish(server, KEY_B, "with b") in (401, 403))
        res.check("the STOMP/TCP subscriber receives the key A message",
                  tcp_collector.wait(lambda: "with a" in tcp_collector.bodies), tcp_collector.bodies)
        res.check("the WebSocket subscriber receives the key A message", ws.message("with a"), ws.transcript())
        private, private_collector = stomp_subscriber(server, "/topic/private/x", receipt="private")
        res.check("anonymous SUBSCRIBE to /topic/private/x is allowed before the reload",
                  private_collector.wait(lambda: "private" in private_collector.receipts), private_collector.errors)
        private.disconnect()

        print("[reload] SIGHUP: key A out, key B in, /topic/private/** closed to anonymous clients", flush=True)
        write(config, configuration({"b": KEY_B}, private_readable=False))
        offset = log_size(server)
        os.kill(server.proc.pid, signal.SIGHUP)
        res.check("key B is accepted after SIGHUP (polled)", wait_for(lambda: publish(server, KEY_B, "probe") == 202),
                  log_since(server, offset))
        reloaded = log_since(server, offset)
        res.check("the log names what changed, without the keys",
                  "reloaded the configuration" in reloaded and "api_keys" in reloaded and "access" in reloaded
                  and KEY_A not in reloaded and KEY_B not in reloaded, reloaded)
        status = publish(server, KEY_A, "with a again")
        res.check("key A is refused after the reload (403 unknown API key)", status == 403, status)
        res.check("HTTP publish with key B after the reload: 202", publish(server, KEY_B, "with b") == 202)
        res.check("the STOMP/TCP connection opened before the reload receives the key B message",
                  tcp_collector.wait(lambda: "with b" in tcp_collector.bodies), tcp_collector.bodies)
        res.check("the WebSocket connection opened before the reload receives the key B message",
                  ws.message("with b"), ws.transcript())
        res.check("neither old connection was dropped", tcp.is_connected() and not ws.is_closed())
        denied, denied_collector = stomp_subscriber(server, "/topic/private/x", receipt="private")
        res.check("a new anonymous SUBSCRIBE to /topic/private/x gets ERROR permission denied",
                  denied_collector.wait(lambda: "permission denied" in denied_collector.errors),
                  f"errors {denied_collector.errors} receipts {denied_collector.receipts}")
        with contextlib.suppress(Exception):
            denied.disconnect()

        print("[reload] SIGHUP with an invalid file", flush=True)
        invalid = configuration({"b": KEY_B}, private_readable=False).replace(
            'subscribe: ["/topic/reload", "/topic/public/**"]', 'subscribe: ["topic/no-leading-slash"]')
        write(config, invalid)
        status, expected = check_config_output(config)
        res.check("--check-config refuses the invalid file with status 2", status == 2 and expected, f"{status} {expected}")
        offset = log_size(server)
        os.kill(server.proc.pid, signal.SIGHUP)
        refusal = wait_for(lambda: [line for line in log_since(server, offset).splitlines() if "reload refused" in line])
        res.check("the refusal is logged with the text --check-config prints",
                  bool(refusal) and logged_form(expected) in refusal[0], f"expected {expected!r} in {refusal}\n{log_since(server, offset)}")
        res.check("the process is alive after the refused reload", server.alive())
        res.check("key B still works after the refused reload", publish(server, KEY_B, "after refusal") == 202)
        res.check("key A is still refused after the refused reload", publish(server, KEY_A, "x") == 403)
        res.check("both old connections still receive after the refused reload",
                  tcp_collector.wait(lambda: "after refusal" in tcp_collector.bodies) and ws.message("after refusal"),
                  f"{tcp_collector.bodies} {ws.transcript()}")
    except Exception:
        res.check("ran to the end", False, traceback.format_exc() + ("\n" + server.log_tail() if server else ""))
    finally:
        for connection in connections:
            with contextlib.suppress(Exception):
                if isinstance(connection, stomp.Connection12):
                    connection.disconnect()
                else:
                    connection.close()
        if server is not None:
            server.stop()
    print(res.tally(), flush=True)
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
