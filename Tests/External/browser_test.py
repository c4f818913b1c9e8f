#!/usr/bin/env python3
"""The shoutbox (web/index.html + web/perigee.js) in headless Chromium, driven by selenium.

Starts the server (see perigee_server.py for PERIGEE_BIN / PERIGEE_CMD), opens the shoutbox in
two browsers, and checks as a person would: both show "connected" over "websocket"; a shout
typed in one shows up in both (button and Enter key), by "anonymous" (it carries no
`perigee-user` header); an HTTP publish shows up in both; markup in a shout is shown as text
and never becomes an element; a subscription the server refuses (a queue, under the standard
access policy) reaches its onError, and the page reconnects once and stays connected; after
the server restarts, both reconnect and shouts flow again (the client resubscribed); `?token=`
in the page URL reaches the client's `token` option. Every shout carries a `%` (EventSource
escapes it). Then, with the page URL's `?transports=` forcing each transport of perigee.js in
turn (websocket, xhr-streaming, eventsource, xhr-polling): both windows show that transport,
shouts cross between them and an HTTP publish reaches both; the same with one window on
websocket and the other on xhr-polling; and with WebSocket (then also xhr-streaming) blocked by
the browser, the client falls back to the next transport by itself. Screenshots go to --out.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
Started by browser_test.sh, which installs Chromium and the Python packages first.
"""
import argparse
import http.client
import os
import sys
import time
import traceback
import uuid

import requests
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perigee_server import PerigeeServer, Results, ServerError  # noqa: E402

CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TIMEOUT = 15.0


def make_driver():
    os.environ["SE_OFFLINE"] = "true"  # never let selenium-manager try to download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(predicate, timeout=TIMEOUT):
    """Poll `predicate` until truthy; return its last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except WebDriverException:
            value = None
        if value:
            return value
        time.sleep(0.1)
    return value


def state(driver):
    return driver.find_element(By.ID, "connection").text.strip()


def transport(driver):
    return driver.find_element(By.ID, "transport").text.strip()


def shown_bodies(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#messages li .body')).map(e => e.textContent)")


def shown_author(driver, body):
    """The author shown next to the (last) shout whose body is `body`, or None."""
    return driver.execute_script(
        "const items = Array.from(document.querySelectorAll('#messages li'))"
        ".filter(li => li.querySelector('.body').textContent === arguments[0]);"
        "const last = items[items.length - 1];"
        "return last && last.querySelector('.author') ? last.querySelector('.author').textContent : null", body)


def token_from_page_url(res, base, driver):
    """`?token=` in the shoutbox's URL becomes the client's `token` option (percent-decoded)."""
    driver.get(base + "/?transports=websocket&token=demo.tok%2Ben")
    token = wait_for(lambda: driver.execute_script("return window.perigee && window.perigee.options.token"))
    res.check("?token= in the page URL is passed to PerigeeClient as its token option",
              token == "demo.tok+en", repr(token))
    driver.get(base + "/")


def shows(driver, body):
    return body in shown_bodies(driver)


def shout(driver, body, enter=False):
    box = driver.find_element(By.ID, "shout_text")
    box.clear()
    box.send_keys(body)
    if enter:
        box.send_keys(Keys.ENTER)
    else:
        driver.find_element(By.ID, "send_shout").click()


def alert_open(driver):
    try:
        driver.switch_to.alert.text
        return True
    except NoAlertPresentException:
        return False


def console_errors(driver):
    try:
        entries = driver.get_log("browser")
    except WebDriverException:
        return []
    return [e["message"] for e in entries if e.get("level") == "SEVERE" and "favicon.ico" not in e["message"]]


def publish(base, body, content_type="text/plain"):
    return requests.post(f"{base}/api/publish/topic/shouts", data=body.encode("utf-8"),
                         headers={"Content-Type": content_type}, timeout=10)


TRANSPORTS = ("websocket", "xhr-streaming", "eventsource", "xhr-polling")


def open_page(driver, base, transports=None):
    driver.get(base + "/" + (f"?transports={','.join(transports)}" if transports else ""))


def exchange(res, base, label, senders, receivers, tag):
    """Shouts from each window in `senders` reach every window in `receivers`; an HTTP publish
    reaches them all."""
    for name, d in senders.items():
        # A % (which EventSource data carries escaped as %25) and a literal %25 arrive as typed.
        body = f"{label}: from {name}, 100% sure, %25 stays {tag}"
        shout(d, body)
        for other, r in receivers.items():
            res.check(f"{label}: a shout from {name} shows up in {other}",
                      wait_for(lambda r=r: shows(r, body)), repr(shown_bodies(r)[-5:]))
    body = f"{label}: published over HTTP {tag}"
    try:
        r = publish(base, body)
        res.check(f"{label}: HTTP publish answers 202", r.status_code == 202, f"{r.status_code} {r.text[:200]!r}")
    except requests.RequestException as e:
        res.check(f"{label}: HTTP publish answers 202", False, repr(e))
    for name, d in receivers.items():
        res.check(f"{label}: the HTTP publish shows up in {name}", wait_for(lambda d=d: shows(d, body)),
                  repr(shown_bodies(d)[-5:]))


BURST = 40


def burst(res, base, label, windows, tag):
    """BURST HTTP publishes of ~200 bytes in a row reach every window, all of them, in order.
    The server runs with a 4 KiB SockJS response limit, so streaming responses are renewed
    several times and polls come and go meanwhile."""
    bodies = [f"{label} burst {i:03d} {tag} " + "x" * 160 for i in range(BURST)]
    for body in bodies:
        try:
            publish(base, body)
        except requests.RequestException:
            pass
    for name, d in windows.items():
        def shown(d=d):
            return [b for b in shown_bodies(d) if b.startswith(f"{label} burst ") and tag in b]
        wait_for(lambda: len(shown()) >= BURST)
        got = shown()
        res.check(f"{label}: a burst of {BURST} HTTP publishes reaches {name} complete and in order",
                  got == bodies, f"{len(got)} shown; first differences: "
                  f"{[(i, g[:24]) for i, (g, w) in enumerate(zip(got, bodies)) if g != w][:3]}")


# Count A's state changes, then subscribe to a queue, which the server's standard access policy
# refuses to browsers (ERROR "permission denied", then it closes the connection).
REFUSED_SUBSCRIBE = """
const client = window.perigee;
const show = client.onStateChange;
window.testStates = [];
client.onStateChange = (state, previous) => { window.testStates.push(state); show(state, previous); };
window.testRefused = [];
window.testSub = client.subscribe("/queue/not-for-browsers", () => {}, {}, {
  onError: (e) => window.testRefused.push([e.destination, e.frame.headers.message]),
});
"""


def refused_subscription(res, base, a, b, tag):
    """A subscription the server refuses is reported once; the page reconnects once and then
    stays connected (it does not send the refused SUBSCRIBE again), and shouts still flow."""
    a.execute_script(REFUSED_SUBSCRIBE)
    refused = wait_for(lambda: a.execute_script("return window.testRefused"))
    res.check("a refused subscription reaches its onError with the server's reason",
              refused == [["/queue/not-for-browsers", "permission denied"]], repr(refused))
    res.check("after the refusal A reconnects", wait_for(lambda: state(a) == "connected"), state(a))
    # Without the fix the page reconnected every 250-500 ms; give it time to show that.
    time.sleep(3)
    states = a.execute_script("return window.testStates")
    res.check("... once, and then stays connected (the refused SUBSCRIBE is not sent again)",
              states == ["reconnecting", "connected"] and state(a) == "connected", repr(states))
    exchange(res, base, "after a refused subscription", {"A": a}, {"A": a, "B": b}, tag)


def block_urls(driver, patterns):
    """Make the browser fail HTTP requests to URLs matching `patterns` (DevTools Network domain;
    it does not apply to WebSocket handshakes)."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": list(patterns)})


# Run before the page's scripts: every WebSocket the page opens goes to a path where the server
# refuses the Upgrade, as behind a proxy that strips it (the handshake fails, close 1006).
BREAK_WEBSOCKET = """
(() => {
  const Real = window.WebSocket;
  window.WebSocket = function (url, protocols) {
    return new Real(String(url).replace(/\\/stomp$/, "/no-websocket-here"), protocols);
  };
  window.WebSocket.prototype = Real.prototype;
})();
"""


def break_websocket(driver):
    """Install BREAK_WEBSOCKET for the next page loads; returns the id that removes it."""
    driver.execute_cdp_cmd("Page.enable", {})
    return driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": BREAK_WEBSOCKET})["identifier"]


def run_transports(server, out, res, windows):
    """Each transport forced in both windows, a mixed pair, and falling back on its own."""
    base = server.http_url
    a, b = windows["a"], windows["b"]
    tag = uuid.uuid4().hex[:8]
    for name in TRANSPORTS:
        for d in (a, b):
            open_page(d, base, [name])
        ok = all(wait_for(lambda d=d: state(d) == "connected") for d in (a, b))
        res.check(f"{name}: both windows forced to it show connected", ok, f"a={state(a)!r} b={state(b)!r}")
        res.check(f"{name}: both windows show transport {name}",
                  transport(a) == name and transport(b) == name, f"a={transport(a)!r} b={transport(b)!r}")
        if ok:
            exchange(res, base, name, {"A": a, "B": b}, {"A": a, "B": b}, tag)
            burst(res, base, name, {"A": a, "B": b}, tag)
        for label, d in (("a", a), ("b", b)):
            d.save_screenshot(os.path.join(out, f"6-{name}-{label}.png"))

    open_page(a, base, ["websocket"])
    open_page(b, base, ["xhr-polling"])
    ok = all(wait_for(lambda d=d: state(d) == "connected") for d in (a, b))
    res.check("mixed: A on websocket and B on xhr-polling",
              ok and transport(a) == "websocket" and transport(b) == "xhr-polling",
              f"a={state(a)!r}/{transport(a)!r} b={state(b)!r}/{transport(b)!r}")
    if ok:
        exchange(res, base, "mixed", {"A": a, "B": b}, {"A": a, "B": b}, tag)

    # Falling back by itself: the default order, with WebSocket refused and then also the
    # first SockJS transports blocked. B stays on the default (websocket).
    try:
        script = break_websocket(a)
    except WebDriverException as e:
        res.check("fallback: break WebSocket in A through DevTools", False, str(e))
        return
    open_page(b, base)
    fallbacks = (([], "xhr-streaming"), (["*/xhr_streaming"], "eventsource"),
                 (["*/xhr_streaming", "*/eventsource"], "xhr-polling"))
    for blocked, expected in fallbacks:
        label = "fallback: WebSocket refused" + "".join(f", {p} blocked" for p in blocked)
        block_urls(a, blocked)
        open_page(a, base)
        ok = wait_for(lambda: state(a) == "connected", timeout=30)
        res.check(f"{label}: A connects by itself over {expected}", ok and transport(a) == expected,
                  f"state {state(a)!r}, transport {transport(a)!r}")
        if ok and wait_for(lambda: state(b) == "connected"):
            exchange(res, base, f"fallback to {expected}", {"A": a, "B": b}, {"A": a, "B": b}, tag)
    block_urls(a, [])
    a.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script})
    open_page(a, base)
    res.check("without the breakage A is back on websocket",
              wait_for(lambda: state(a) == "connected" and transport(a) == "websocket"),
              f"state {state(a)!r}, transport {transport(a)!r}")


def run(server, out, res, windows):
    base = server.http_url

    def snap(name):
        for label, d in windows.items():
            try:
                d.save_screenshot(os.path.join(out, f"{name}-{label}.png"))
            except WebDriverException:
                pass

    # The static files the page needs, with the types browsers insist on for module scripts.
    modules = [f"/perigee/{name}.js" for name in
               ("stomp-codec", "websocket-transport", "sockjs-transports", "reconnect-policy", "positions", "client")]
    for path, ctype in (("/", "text/html"), ("/perigee.js", "text/javascript"),
                        *((m, "text/javascript") for m in modules),
                        ("/shoutbox.js", "text/javascript"), ("/shoutbox-view.js", "text/javascript"),
                        ("/shoutbox.css", "text/css")):
        try:
            r = requests.get(base + path, timeout=10)
            res.check(f"GET {path} serves web/ with Content-Type {ctype}",
                      r.status_code == 200 and r.headers.get("Content-Type", "").split(";")[0] == ctype,
                      f"status {r.status_code}, Content-Type {r.headers.get('Content-Type')!r}")
        except requests.RequestException as e:
            res.check(f"GET {path}", False, repr(e))
    for path in ("/../Package.swift", "/%2e%2e/Package.swift", "/..%2fPackage.swift", "/../../etc/passwd"):
        # http.client sends the path exactly as typed (requests/urllib3 would remove the dots).
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            text = r.read().decode("utf-8", "replace")
            res.check(f"GET {path} does not leave web/", r.status in (400, 403, 404)
                      and "PackageDescription" not in text and "root:" not in text,
                      f"status {r.status}: {text[:200]!r}")
        except (OSError, http.client.HTTPException) as e:
            res.check(f"GET {path}", False, repr(e))
        finally:
            conn.close()

    print(f"[browser] {CHROMIUM} via {CHROMEDRIVER}, server {base}")
    try:
        windows["a"] = make_driver()
        windows["b"] = make_driver()
    except WebDriverException as e:
        res.check("start headless Chromium", False, str(e))
        return
    a, b = windows["a"], windows["b"]

    for d in (a, b):
        d.get(base + "/")
    res.check("page loads with the shoutbox controls",
              all(d.find_elements(By.ID, i) for d in (a, b)
                  for i in ("shout_text", "send_shout", "messages", "connection", "transport")),
              a.page_source[:500])
    res.check("button reads 'Shout it'", a.find_element(By.ID, "send_shout").text.strip() == "Shout it",
              a.find_element(By.ID, "send_shout").text)
    ok = all(wait_for(lambda d=d: state(d) == "connected") for d in (a, b))
    res.check("both windows show connected", ok, f"a={state(a)!r} b={state(b)!r}")
    res.check("both windows show transport websocket",
              transport(a) == "websocket" and transport(b) == "websocket",
              f"a={transport(a)!r} b={transport(b)!r}")
    snap("1-connected")
    if not ok:
        return

    tag = uuid.uuid4().hex[:8]
    first = f"hello from A {tag}"
    shout(a, first)
    res.check("a shout from A shows up in B", wait_for(lambda: shows(b, first)), repr(shown_bodies(b)))
    res.check("... and in A itself", wait_for(lambda: shows(a, first)), repr(shown_bodies(a)))
    res.check("a shout from an anonymous window is shown as by 'anonymous'",
              shown_author(b, first) == "anonymous", repr(shown_author(b, first)))
    res.check("the text box is cleared after shouting",
              a.find_element(By.ID, "shout_text").get_attribute("value") == "")

    second = f"B by Enter, h\u00e9llo w\u00f6rld \u2713 {tag}"
    shout(b, second, enter=True)
    res.check("a shout sent with Enter from B (non-ASCII) shows up in A",
              wait_for(lambda: shows(a, second)), repr(shown_bodies(a)))
    res.check("... and in B", wait_for(lambda: shows(b, second)), repr(shown_bodies(b)))
    snap("2-shouts")

    third = f"published over HTTP {tag}"
    try:
        r = publish(base, third)
        body = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else None
        res.check("HTTP publish answers 202 with message-id and delivered >= 2",
                  r.status_code == 202 and isinstance(body, dict) and body.get("message-id")
                  and isinstance(body.get("delivered"), int) and body["delivered"] >= 2,
                  f"status {r.status_code}, Content-Type {r.headers.get('Content-Type')!r}, body {r.text[:300]!r}")
    except requests.RequestException as e:
        res.check("HTTP publish answers 202", False, repr(e))
    res.check("the HTTP publish shows up in A", wait_for(lambda: shows(a, third)), repr(shown_bodies(a)))
    res.check("the HTTP publish shows up in B", wait_for(lambda: shows(b, third)), repr(shown_bodies(b)))

    xss = f"<img src=x onerror=alert(1)> {tag}"
    shout(a, xss)
    res.check("markup in a shout shows up as literal text in B", wait_for(lambda: shows(b, xss)),
              repr(shown_bodies(b)))
    res.check("... and in A", wait_for(lambda: shows(a, xss)), repr(shown_bodies(a)))
    html = f"<b id=injected>bold</b><script>window.pwned=1</script> {tag}"
    try:
        publish(base, html, "text/html")
    except requests.RequestException:
        pass
    res.check("markup published over HTTP as text/html shows up as literal text",
              wait_for(lambda: shows(b, html)), repr(shown_bodies(b)))
    time.sleep(0.5)  # give an onerror handler, if one had been created, time to fire
    for label, d in windows.items():
        imgs = len(d.find_elements(By.CSS_SELECTOR, "#messages img"))
        injected = len(d.find_elements(By.CSS_SELECTOR, "#messages b, #messages script, #injected"))
        pwned = d.execute_script("return window.pwned === 1")
        res.check(f"no element created from shout markup in {label.upper()} and no alert",
                  imgs == 0 and injected == 0 and not pwned and not alert_open(d),
                  f"img={imgs} injected={injected} pwned={pwned} alert={alert_open(d)}")
    snap("3-markup")

    refused_subscription(res, base, a, b, tag)
    snap("3b-refused")

    # Restart the server: both pages must reconnect on their own and resubscribe.
    server.stop()
    res.check("both windows notice the server went away",
              all(wait_for(lambda d=d: state(d) in ("reconnecting", "connecting")) for d in (a, b)),
              f"a={state(a)!r} b={state(b)!r}")
    snap("4-server-down")
    server.start()
    ok = all(wait_for(lambda d=d: state(d) == "connected", timeout=30) for d in (a, b))
    res.check("both windows reconnect after a server restart", ok, f"a={state(a)!r} b={state(b)!r}")
    if ok:
        fourth = f"after the restart {tag}"
        shout(b, fourth)
        res.check("shouts flow again after reconnecting (resubscribed)",
                  wait_for(lambda: shows(a, fourth)) and wait_for(lambda: shows(b, fourth)),
                  f"a={shown_bodies(a)!r} b={shown_bodies(b)!r}")
    snap("5-reconnected")

    for label, d in windows.items():
        # Expected while the server restarts: every transport fails to connect.
        # Also expected: the shoutbox asks once whether /topic/shouts has presence, and this
        # server's configuration has none (404).
        errors = [e for e in console_errors(d) if "WebSocket" not in e
                  and not ("/stomp/" in e and "ERR_CONNECTION_REFUSED" in e)
                  and not ("/api/presence/topic/shouts " in e and "404" in e)]
        res.check(f"no JavaScript errors in the console of {label.upper()}", not errors, "\n".join(errors))

    token_from_page_url(res, base, a)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "browser"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    res = Results()
    config = os.path.join(args.out, "perigee.yaml")
    with open(config, "w") as f:
        f.write("# Written by browser_test.py: small SockJS responses, renewed often.\n"
                "sockjs:\n  response_limit: 4096\n")
    server = PerigeeServer(os.path.join(args.out, "server.log"), with_stomp=False, config=config)
    windows = {}
    try:
        server.start()
        print(f"[browser] server log: {server.log_path}")
        run(server, args.out, res, windows)
        if "a" in windows and "b" in windows and server.alive():
            run_transports(server, args.out, res, windows)
    except ServerError as e:
        res.check("server runs", False, str(e))
    except Exception:  # a crash in the test is a failure, reported with its traceback
        res.check("browser test ran to the end", False, traceback.format_exc())
    finally:
        if server.proc is not None and not server.alive():
            res.check("server stayed up", False, server.log_tail())
        for d in windows.values():
            try:
                d.quit()
            except WebDriverException:
                pass
        server.stop()
    print(f"[browser] screenshots in {args.out}")
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
