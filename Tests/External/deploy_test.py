#!/usr/bin/env python3
"""The deployment files of the README, checked with the real tools.

deploy/nginx/perigee.conf: nginx (Debian's, run unprivileged on a free loopback port) proxies
to Perigee with the file as written, only its upstream address and `listen` line changed:
  - a browser-like WebSocket client (Origin = the proxy's own origin) connects through the
    proxy, subscribes, and receives a message published through the proxy's /api;
  - a SockJS xhr-streaming client receives messages through the proxy while its stream stays
    open (proxy_buffering off), and an eventsource one too;
  - /readyz answers through the proxy, /metrics and the admin API do not;
  - a WebSocket idle longer than nginx's default 60 s read timeout would be cut; ours is
    120 s, above the heart-beats: checked on the file, not by waiting.
deploy/systemd/perigee.service: `systemd-analyze verify` accepts it (with ExecStart pointing at
the built binary).
Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import REPO_ROOT, PerigeeServer, Results, free_port, port_open  # noqa: E402
from stomp_transports import open_client  # noqa: E402

TIMEOUT = 10.0
API_KEY = "deploy-test-" + uuid.uuid4().hex


class Via:
    """What the transport clients read of a server: its HTTP port (here, nginx's)."""

    def __init__(self, port, stomp_port=0):
        self.port = port
        self.stomp_port = stomp_port


def wait_for(condition, timeout=TIMEOUT, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def nginx_config(folder, upstream_port, listen_port):
    """The repository's file with only the upstream and the listen address changed, inside a
    minimal main configuration that keeps every path in `folder`."""
    text = open(os.path.join(REPO_ROOT, "deploy", "nginx", "perigee.conf")).read()
    text, upstreams = re.subn(r"server 127\.0\.0\.1:9000;", f"server 127.0.0.1:{upstream_port};", text)
    text, listens = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen_port};", text)
    assert upstreams == 2 and listens == 1, "deploy/nginx/perigee.conf changed shape"
    open(os.path.join(folder, "perigee.conf"), "w").write(text)
    main = f"""
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/perigee.conf;
}}
"""
    path = os.path.join(folder, "nginx.conf")
    open(path, "w").write(main)
    return path


def check_nginx(results, server, out):
    folder = tempfile.mkdtemp(prefix="perigee-nginx-")
    port = free_port()
    conf = nginx_config(folder, server.port, port)
    test = subprocess.run(["nginx", "-t", "-p", folder, "-c", conf], capture_output=True, text=True)
    if not results.check("nginx -t accepts deploy/nginx/perigee.conf", test.returncode == 0, test.stderr):
        return
    proc = subprocess.Popen(["nginx", "-p", folder, "-c", conf, "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    clients = []
    try:
        if not results.check("nginx listens", wait_for(lambda: port_open(port)), proc.stderr and ""):
            return
        via = Via(port)
        origin = f"http://127.0.0.1:{port}"
        ready = requests.get(f"{origin}/readyz", timeout=TIMEOUT)
        results.check("GET /readyz through the proxy: 200 ready", ready.status_code == 200 and ready.json().get("status") == "ready",
                      f"{ready.status_code} {ready.text}")
        metrics = requests.get(f"{origin}/metrics", timeout=TIMEOUT)
        results.check("GET /metrics is not exposed through the proxy (404)", metrics.status_code == 404, metrics.status_code)
        destinations = requests.get(f"{origin}/api/destinations", timeout=TIMEOUT)
        results.check("/api/destinations is not exposed through the proxy (404)", destinations.status_code == 404, destinations.status_code)
        sessions = requests.get(f"{origin}/api/sessions", timeout=TIMEOUT)
        results.check("the admin API is not exposed through the proxy (404)", sessions.status_code == 404, sessions.status_code)

        topic = "/topic/deploy-" + uuid.uuid4().hex[:8]
        for kind, headers in (("websocket", {"Origin": origin}), ("xhr-streaming", {"Origin": origin}), ("eventsource", {})):
            client = open_client(kind, via, http_headers=dict(headers))
            clients.append(client)
            connected = client.connect()
            ok = connected is not None and connected.command == "CONNECTED"
            results.check(f"{kind}: CONNECT through nginx (Origin {'sent' if headers else 'absent'})", ok,
                          client.transcript() if not ok else "")
            if not ok:
                continue
            receipt = client.subscribe(topic, receipt="sub-" + kind)
            results.check(f"{kind}: SUBSCRIBE answered through nginx", receipt is not None and receipt.command == "RECEIPT", client.transcript())
        for index in range(3):
            body = f"hello {index}"
            answer = requests.post(f"{origin}/api/publish{topic}", data=body.encode(), timeout=TIMEOUT,
                                   headers={"Authorization": f"Bearer {API_KEY}"})
            results.check(f"publish {index} through the proxy: 202", answer.status_code == 202, f"{answer.status_code} {answer.text}")
        for client in clients:
            got = wait_for(lambda: [f.body.decode() for f in client.messages()] == ["hello 0", "hello 1", "hello 2"])
            results.check(f"{client.__class__.__name__}: the three messages arrive through nginx while the connection stays open",
                          bool(got) and not client.is_closed(), client.transcript())
        text = open(os.path.join(folder, "perigee.conf")).read()
        timeout = re.search(r"proxy_read_timeout (\d+)s;", text)
        results.check("proxy_read_timeout exceeds the heart-beat intervals (STOMP 10 s, SockJS 25 s)",
                      timeout is not None and int(timeout.group(1)) > 25, text)
    finally:
        for client in clients:
            client.close()
        proc.terminate()
        try:
            proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
        for name in ("error.log", "access.log"):
            if os.path.exists(os.path.join(folder, name)):
                shutil.copy(os.path.join(folder, name), os.path.join(out, "nginx-" + name))
        shutil.rmtree(folder, ignore_errors=True)


def check_systemd(results, out):
    binary = os.path.join(REPO_ROOT, os.environ.get("PERIGEE_BIN", ".build/debug/perigee"))
    text = open(os.path.join(REPO_ROOT, "deploy", "systemd", "perigee.service")).read()
    text = text.replace("/usr/local/bin/perigee", binary).replace("/etc/perigee/perigee.yaml",
                                                                  os.path.join(REPO_ROOT, "perigee.example.yaml"))
    text = text.replace("WorkingDirectory=/usr/local/share/perigee", f"WorkingDirectory={REPO_ROOT}")
    folder = tempfile.mkdtemp(prefix="perigee-systemd-")
    unit = os.path.join(folder, "perigee.service")
    open(unit, "w").write(text)
    verify = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
    results.check("systemd-analyze verify accepts deploy/systemd/perigee.service",
                  verify.returncode == 0 and "perigee.service" not in verify.stderr, verify.stderr)
    stop = re.search(r"TimeoutStopSec=(\d+)", text)
    results.check("the unit stops with SIGTERM (the drain) and waits longer than the default drain timeout",
                  "KillSignal=SIGTERM" in text and stop is not None and int(stop.group(1)) > 10, text)
    results.check("the unit reloads with SIGHUP", "ExecReload=/bin/kill -HUP $MAINPID" in text, text)
    results.check("the unit runs where static.root (web/) resolves", f"WorkingDirectory={REPO_ROOT}" in text, text)
    shutil.rmtree(folder, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "Tests", "External", "out", "deploy"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = Results()
    config = os.path.join(args.out, "perigee.yaml")
    with open(config, "w") as f:
        f.write(f"api_keys:\n  backend: {API_KEY}\n")
    server = PerigeeServer(os.path.join(args.out, "server.log"), config=config)
    try:
        server.start()
        check_nginx(results, server, args.out)
        check_systemd(results, args.out)
    except Exception:
        results.check("the deployment test ran to the end", False, traceback.format_exc())
    finally:
        server.stop()
    print(results.tally())
    sys.exit(0 if results.failed == 0 else 1)


if __name__ == "__main__":
    main()
