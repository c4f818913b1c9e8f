#!/usr/bin/env python3
"""TLS and the origin allow-list with third-party clients: requests, websockets, stomp.py.

Creates two self-signed certificates with the `openssl` command in a temporary folder, starts
the server (perigee_server.py: PERIGEE_BIN, default .build/debug/perigee) with a configuration
file naming the first, and checks:
  - `perigee --check-config` reads the PEM files: a missing or invalid one is named by
    file:line: key, with status 2;
  - an HTTPS publish (requests, verifying the certificate) reaches a `wss://` STOMP subscriber
    (websockets) and a STOMP-over-TLS subscriber (stomp.py with set_ssl);
  - SIGHUP after the files are replaced by the second certificate: connections already open
    stay up and still receive, while a new connection is served the new certificate (SHA-256
    fingerprints compared);
  - SIGHUP after the certificate file is replaced by garbage: refused and logged with the
    precise error; the second certificate is still served and the process is alive;
  - a WebSocket handshake from a foreign Origin gets 403 with the reason; a listed Origin and
    the gateway's own upgrade.
Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import traceback
import uuid

import requests
import stomp
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import REPO_ROOT, PerigeeServer, Results, ServerError, free_port, port_open, wait_for  # noqa: E402
from stomp_py_listener import Collector  # noqa: E402

TIMEOUT = 10.0
API_KEY = "tls-test-" + uuid.uuid4().hex
LISTED_ORIGIN = "http://127.0.0.1:8000"


def make_certificate(folder, name):
    """A self-signed P-256 certificate for localhost and 127.0.0.1: (cert path, key path)."""
    cert, key = os.path.join(folder, name + ".pem"), os.path.join(folder, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=perigee-test-{name}",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return cert, key


def fingerprint_of_file(cert):
    der = ssl.PEM_cert_to_DER_cert(open(cert).read())
    return hashlib.sha256(der).hexdigest()


def served_fingerprint(port):
    """The SHA-256 fingerprint of the certificate a new TLS connection to `port` is served."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def replace_file(source, target):
    """Atomically replaces `target` by a copy of `source` (as a deploy tool would)."""
    temporary = target + ".new"
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def verify_context(cert):
    context = ssl.create_default_context(cafile=cert)
    return context


class WSSubscriber:
    """A STOMP-over-WSS subscriber (websockets library) reading frames on a thread."""

    def __init__(self, port, cert, destination):
        self.frames = []
        self.cond = threading.Condition()
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(ws_connect(f"wss://127.0.0.1:{port}/stomp", ssl=verify_context(cert),
                                                      subprotocols=["v12.stomp"], open_timeout=TIMEOUT))
        self.ws.send("CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0")
        threading.Thread(target=self._read, daemon=True).start()
        if not self.wait(lambda f: f.startswith("CONNECTED")):
            raise RuntimeError(f"no CONNECTED over wss: {self.frames}")
        self.ws.send(f"SUBSCRIBE\nid:0\ndestination:{destination}\nreceipt:sub\n\n\0")
        if not self.wait(lambda f: f.startswith("RECEIPT")):
            raise RuntimeError(f"no RECEIPT for SUBSCRIBE over wss: {self.frames}")

    def _read(self):
        try:
            for message in self.ws:
                with self.cond:
                    self.frames.append(message if isinstance(message, str) else message.decode())
                    self.cond.notify_all()
        except Exception:  # the connection ended; waiters time out
            pass

    def wait(self, predicate, timeout=TIMEOUT):
        with self.cond:
            return self.cond.wait_for(lambda: any(predicate(f) for f in self.frames), timeout)

    def received(self, body):
        return self.wait(lambda f: f.startswith("MESSAGE") and f.endswith("\n\n" + body + "\0"))

    def close(self):
        self.stack.close()


def stomp_tls_subscriber(port, cert, destination):
    """stomp.py over TLS, verifying the certificate, subscribed to `destination`."""
    conn = stomp.Connection12([("127.0.0.1", port)], vhost="/", heartbeats=(0, 0))
    conn.set_ssl(for_hosts=[("127.0.0.1", port)], ca_certs=cert)
    collector = Collector()
    conn.set_listener("collector", collector)
    conn.connect(username="tls-test", passcode=API_KEY, wait=True)
    conn.subscribe(destination, id="1", receipt="sub")
    if not collector.wait(lambda: "sub" in collector.receipts):
        raise RuntimeError("no RECEIPT for SUBSCRIBE over STOMP/TLS")
    return conn, collector


def publish(server, cert, destination, body):
    return requests.post(f"https://127.0.0.1:{server.port}/api/publish{destination}", data=body.encode(),
                         headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "text/plain"},
                         verify=cert, timeout=TIMEOUT)


def check_delivery(res, when, server, cert, body, wss, collector):
    """An HTTPS publish, verified against `cert`, reaches both subscribers opened earlier."""
    answer = publish(server, cert, "/topic/tls", body)
    res.check(f"{when}: HTTPS publish accepted (requests, certificate verified)", answer.status_code == 202,
              f"{answer.status_code} {answer.text}")
    res.check(f"{when}: the wss:// subscriber (websockets) receives it", wss.received(body), wss.frames)
    res.check(f"{when}: the STOMP/TLS subscriber (stomp.py set_ssl) receives it",
              collector.wait(lambda: body in collector.bodies), collector.bodies)


def check_config(res, folder, cert, key):
    binary = os.environ.get("PERIGEE_BIN", ".build/debug/perigee")
    binary = binary if os.path.isabs(binary) else os.path.join(REPO_ROOT, binary)
    cases = [
        ("valid files", f"tls:\n  cert_file: {cert}\n  key_file: {key}\n", 0, ": ok"),
        ("missing certificate", f"tls:\n  cert_file: {folder}/missing.pem\n  key_file: {key}\n", 2,
         ":2: tls.cert_file: expected a readable PEM file"),
        ("invalid certificate", f"tls:\n  cert_file: {folder}/garbage.pem\n  key_file: {key}\n", 2,
         ":2: tls.cert_file: expected a PEM certificate chain"),
        ("key without certificate", f"tls:\n  key_file: {key}\n", 2, ": tls.cert_file:"),
        ("bad TLS port", f"listen:\n  stomp_tls_port: 99999\ntls:\n  cert_file: {cert}\n  key_file: {key}\n", 2,
         ":2: listen.stomp_tls_port: expected an integer in 0...65535"),
        ("bad origin", "origins:\n  allowed: [\"http://a.example/path\"]\n", 2, ":2: origins.allowed:"),
    ]
    for name, yaml, status, expected in cases:
        path = os.path.join(folder, "check.yaml")
        with open(path, "w") as f:
            f.write(yaml)
        run = subprocess.run([binary, "--check-config", path], capture_output=True, text=True, timeout=30)
        output = run.stdout + run.stderr
        res.check(f"--check-config, {name}: status {status}, says '{expected}'",
                  run.returncode == status and expected in output, f"status {run.returncode}: {output}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "tls"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    res = Results()
    folder = tempfile.mkdtemp(prefix="perigee-tls-")
    server = None
    try:
        first_cert, first_key = make_certificate(folder, "first")
        second_cert, second_key = make_certificate(folder, "second")
        with open(os.path.join(folder, "garbage.pem"), "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        live_cert, live_key = os.path.join(folder, "live.pem"), os.path.join(folder, "live.key")
        replace_file(first_cert, live_cert)
        replace_file(first_key, live_key)
        first_fp, second_fp = fingerprint_of_file(first_cert), fingerprint_of_file(second_cert)

        print("[tls] --check-config", flush=True)
        check_config(res, folder, live_cert, live_key)

        tls_port = free_port()
        config = os.path.join(args.out, "perigee-tls.yaml")
        with open(config, "w") as f:
            f.write(f"# written by tls_test.py\nlisten:\n  stomp_tls_port: {tls_port}\n"
                    f"tls:\n  cert_file: {live_cert}\n  key_file: {live_key}\n"
                    f"origins:\n  allowed: [\"{LISTED_ORIGIN}\"]\n"
                    f"api_keys:\n  tls-test: \"{API_KEY}\"\n")
        server = PerigeeServer(os.path.join(args.out, "server.log"), config=config)
        server.start()
        if not wait_for(lambda: port_open(tls_port)):
            raise ServerError(f"STOMP/TLS port {tls_port} not listening; log:\n{server.log_tail()}")
        print(f"[tls] server https={server.port} stomp={server.stomp_port} stomp+tls={tls_port}; "
              f"log {server.log_path}", flush=True)

        print("[tls] round trips", flush=True)
        res.check("HTTPS port serves the configured certificate", served_fingerprint(server.port) == first_fp)
        res.check("STOMP/TLS port serves the configured certificate", served_fingerprint(tls_port) == first_fp)
        plain = None
        try:
            plain = requests.get(f"http://127.0.0.1:{server.port}/healthz", timeout=TIMEOUT)
        except requests.exceptions.RequestException:
            pass
        res.check("plain HTTP on the TLS port gets no HTTP answer", plain is None or plain.status_code != 200)
        wss = WSSubscriber(server.port, first_cert, "/topic/tls")
        stomp_conn, stomp_collector = stomp_tls_subscriber(tls_port, first_cert, "/topic/tls")
        check_delivery(res, "first certificate", server, first_cert, "over https", wss, stomp_collector)
        stomp_conn.send("/topic/tls", "over stomp+tls")
        res.check("STOMP/TLS SEND reaches the wss:// subscriber", wss.received("over stomp+tls"), wss.frames)
        res.check("STOMP/TLS SEND round-trips to its own subscription",
                  stomp_collector.wait(lambda: "over stomp+tls" in stomp_collector.bodies), stomp_collector.bodies)

        print("[tls] SIGHUP with a new certificate", flush=True)
        replace_file(second_cert, live_cert)
        replace_file(second_key, live_key)
        os.kill(server.proc.pid, signal.SIGHUP)
        res.check("after SIGHUP a new HTTPS connection is served the new certificate",
                  wait_for(lambda: served_fingerprint(server.port) == second_fp), server.log_tail())
        res.check("after SIGHUP a new STOMP/TLS connection is served the new certificate",
                  served_fingerprint(tls_port) == second_fp)
        # The subscribers were connected with the first certificate, before the reload.
        check_delivery(res, "after the reload, to connections opened before it", server, second_cert,
                       "after reload", wss, stomp_collector)
        fresh_conn, fresh_collector = stomp_tls_subscriber(tls_port, second_cert, "/topic/tls")
        res.check("a new stomp.py connection verifies the new certificate", fresh_conn.is_connected())
        fresh_conn.disconnect()

        print("[tls] SIGHUP with an invalid certificate", flush=True)
        log_before = open(server.log_path, errors="replace").read()
        replace_file(os.path.join(folder, "garbage.pem"), live_cert)
        os.kill(server.proc.pid, signal.SIGHUP)
        refusal = wait_for(lambda: [line for line in open(server.log_path, errors="replace").read()[len(log_before):].splitlines()
                                    if "refused" in line])
        res.check("the invalid certificate is refused, and the log names file, line and key",
                  refusal and f"{config}:5: tls.cert_file:" in refusal[0], server.log_tail())
        res.check("the process is still alive after the refused reload", server.alive())
        res.check("new connections are still served the previous (second) certificate",
                  served_fingerprint(server.port) == second_fp and served_fingerprint(tls_port) == second_fp)
        check_delivery(res, "after the refused reload, to connections opened before both", server, second_cert,
                       "after refused reload", wss, stomp_collector)
        stomp_conn.disconnect()
        wss.close()

        print("[tls] origins", flush=True)
        try:
            with ws_connect(f"wss://127.0.0.1:{server.port}/stomp", ssl=verify_context(second_cert),
                            origin="http://evil.example", open_timeout=TIMEOUT):
                pass
            res.check("a foreign Origin is refused", False, "the handshake succeeded")
        except InvalidStatus as refused:
            response = refused.response
            res.check("a foreign Origin gets 403 with the reason",
                      response.status_code == 403 and b"origin http://evil.example is not allowed" in response.body,
                      f"{response.status_code} {response.body!r}")
        for origin in (LISTED_ORIGIN, f"https://127.0.0.1:{server.port}"):
            try:
                with ws_connect(f"wss://127.0.0.1:{server.port}/stomp", ssl=verify_context(second_cert),
                                origin=origin, subprotocols=["v12.stomp"], open_timeout=TIMEOUT):
                    pass
                res.check(f"Origin {origin} upgrades", True)
            except InvalidStatus as refused:
                res.check(f"Origin {origin} upgrades", False, f"{refused.response.status_code} {refused.response.body!r}")
        preflight = requests.options(f"https://127.0.0.1:{server.port}/api/publish/topic/tls",
                                     headers={"Origin": LISTED_ORIGIN, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization"},
                                     verify=second_cert, timeout=TIMEOUT)
        res.check("HTTPS preflight from the listed origin names it",
                  preflight.status_code == 204
                  and preflight.headers.get("Access-Control-Allow-Origin") == LISTED_ORIGIN
                  and preflight.headers.get("Access-Control-Allow-Credentials") == "true",
                  f"{preflight.status_code} {dict(preflight.headers)}")
    except Exception:
        res.check("ran to the end", False, traceback.format_exc() + ("\n" + server.log_tail() if server else ""))
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(res.tally(), flush=True)
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
