#!/usr/bin/env python3
"""The real sockjs-client (Debian's node-sockjs-client bundle) against Perigee, in headless Chromium.

Builds a web root under --out holding Debian's sockjs.min.js and sockjs_client_page.html (as
index.html), starts the server on it with a configuration whose `sockjs.sockjs_url` is
/sockjs.min.js (the iframe page of the iframe-* transports loads sockjs-client from there), and,
for each sockjs-client transport forced in turn, has the page complete a STOMP CONNECT, a
SUBSCRIBE with a receipt, a SEND that comes back as a MESSAGE, an HTTP publish that comes back
as a MESSAGE, and a DISCONNECT with a receipt. It checks that sockjs-client reports the forced
transport and that the browser really made that transport's requests (Chromium's network log).

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
Started by sockjs_client_test.sh, which installs Chromium, chromedriver and node-sockjs-client.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import traceback

import requests
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import PerigeeServer, Results, ServerError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TRANSPORT_TIMEOUT_MS = 20000

# For each transport, the session requests (`/stomp/<server>/<session>/<kind>`) the browser
# must make for it, and no others: receiving, then sending (iframe-htmlfile sends with
# xhr_send from inside its iframe).
TRANSPORTS = {
    "websocket": {"websocket"},
    "xhr-streaming": {"xhr_streaming", "xhr_send"},
    "xhr-polling": {"xhr", "xhr_send"},
    "eventsource": {"eventsource", "xhr_send"},
    "iframe-htmlfile": {"htmlfile", "xhr_send"},
    "jsonp-polling": {"jsonp", "jsonp_send"},
}
SESSION_URL = re.compile(r"/stomp/\d{3}/[^/?]+/([a-z_]+)")
STEPS = ["open", "CONNECTED", "SUBSCRIBE receipt", "MESSAGE from own SEND", "HTTP publish 202",
         "MESSAGE from HTTP publish"]


def find_sockjs_bundle():
    """Debian's browser bundle of sockjs-client (dpkg -L node-sockjs-client)."""
    explicit = os.environ.get("SOCKJS_CLIENT_JS")
    if explicit:
        return explicit
    try:
        files = subprocess.run(["dpkg", "-L", "node-sockjs-client"], capture_output=True, text=True,
                               check=True).stdout.split()
        for f in files:
            if f.endswith("/dist/sockjs.min.js"):
                return f
    except (OSError, subprocess.CalledProcessError):
        pass
    return "/usr/share/nodejs/sockjs-client/dist/sockjs.min.js"


def make_web_root(out, bundle):
    root = os.path.join(out, "webroot")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    shutil.copyfile(bundle, os.path.join(root, "sockjs.min.js"))
    shutil.copyfile(os.path.join(HERE, "sockjs_client_page.html"), os.path.join(root, "index.html"))
    return root


def write_config(out):
    path = os.path.join(out, "perigee.yaml")
    with open(path, "w") as f:
        f.write("# Written by sockjs_client_test.py\n"
                "sockjs:\n"
                "  sockjs_url: /sockjs.min.js\n")
    return path


def make_driver():
    os.environ["SE_OFFLINE"] = "true"  # never let selenium-manager try to download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def network_urls(driver):
    """URLs the page (and its same-origin iframes) requested or opened as WebSockets since the
    last call, from Chromium's performance log."""
    urls = []
    for entry in driver.get_log("performance"):
        try:
            message = json.loads(entry["message"])["message"]
        except (KeyError, ValueError):
            continue
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(params.get("request", {}).get("url", ""))
        elif message.get("method") == "Network.webSocketCreated":
            urls.append(params.get("url", ""))
    return urls


def run(server, out, res):
    base = server.http_url
    r = requests.get(base + "/sockjs.min.js", timeout=10)
    res.check("the web root serves /sockjs.min.js", r.status_code == 200 and "SockJS" in r.text,
              f"status {r.status_code}")
    r = requests.get(base + "/stomp/iframe.html", timeout=10)
    res.check("the iframe page loads sockjs-client from the configured sockjs_url",
              r.status_code == 200 and 'src="/sockjs.min.js"' in r.text, f"status {r.status_code}: {r.text[:400]!r}")

    driver = make_driver()
    try:
        driver.set_script_timeout(TRANSPORT_TIMEOUT_MS / 1000 + 10)
        driver.get(base + "/")
        version = driver.execute_script("return window.sockjsVersion")
        res.check("the page loads sockjs-client", bool(version), f"SockJS.version = {version!r}")
        if not version:
            return
        print(f"[sockjs-client] sockjs-client {version} in {CHROMIUM}, server {base}")
        network_urls(driver)  # forget the page load
        for name, expected in TRANSPORTS.items():
            result = driver.execute_async_script(
                "window.runTransport(arguments[0], arguments[1]).then(arguments[2]);",
                name, TRANSPORT_TIMEOUT_MS)
            urls = [u for u in network_urls(driver) if "/stomp" in u]
            missing = [s for s in STEPS if s not in result["steps"]]
            detail = (f"steps {result['steps']}, errors {result['errors']}, close {result['closeEvent']}, "
                      f"{result.get('ms')} ms")
            res.check(f"{name}: STOMP CONNECT, SUBSCRIBE receipt, SEND and HTTP publish come back as "
                      f"MESSAGE", not missing and not result["errors"], f"missing {missing}; {detail}")
            if not missing:
                # STOMP 1.2 §DISCONNECT: the RECEIPT comes before the server closes.
                res.check(f"{name}: DISCONNECT with a receipt gets its RECEIPT before the close",
                          "DISCONNECT receipt" in result["steps"], detail)
            res.check(f"{name}: sockjs-client reports transport {name}", result["usedTransport"] == name,
                      f"sock.transport = {result['usedTransport']!r}")
            kinds = {m.group(1) for m in map(SESSION_URL.search, urls) if m}
            res.check(f"{name}: the browser made {' and '.join(sorted(expected))} requests, no others",
                      kinds == expected, f"session requests seen: {sorted(kinds)}; /stomp URLs: {urls[:12]}")
            print(f"        {name}: {result.get('ms')} ms, version {result.get('version')}")
        driver.save_screenshot(os.path.join(out, "sockjs-client.png"))
    finally:
        try:
            driver.quit()
        except WebDriverException:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "out", "sockjs-client"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    res = Results()
    bundle = find_sockjs_bundle()
    if not os.path.isfile(bundle):
        res.check("Debian's sockjs-client bundle is installed", False,
                  f"{bundle} not found (apt-get install node-sockjs-client)")
        print(res.tally())
        return 1
    root = make_web_root(out, bundle)
    server = PerigeeServer(os.path.join(out, "server.log"), with_stomp=False, config=write_config(out),
                           web_root=root)
    try:
        server.start()
        print(f"[sockjs-client] {bundle}; web root {root}; server log {server.log_path}")
        run(server, out, res)
    except ServerError as e:
        res.check("server runs", False, str(e))
    except Exception:  # a crash in the test is a failure, reported with its traceback
        res.check("sockjs-client test ran to the end", False, traceback.format_exc())
    finally:
        if server.proc is not None and not server.alive():
            res.check("server stayed up", False, server.log_tail())
        server.stop()
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
