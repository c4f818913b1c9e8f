#!/usr/bin/env python3
"""The Django shoutbox example (examples/django-shoutbox) beside Perigee, end to end.

Runs the example's Django unit tests, then starts Django (runserver, a fresh SQLite database)
and Perigee (the example's perigee.yaml with free ports and a fresh API key) and checks in
headless Chromium, as people would: alice (staff) and bob log in in two windows and both
connect; a shout from one shows up in the other with its author, which comes from Perigee's
`perigee-user` header and cannot be forged; a browser that is not logged in cannot connect
(Perigee's connect hook refuses: ERROR `unauthorized`); Perigee's Origin allow-list stops a
page of another origin from using alice's cookie and from loading perigee.js; the send hook
strips shouts and tags them with their id in Django; shouts it refuses
(empty, too long) reach nobody and are not stored; alice's announcement reaches both windows
and bob may not announce; a reload shows the stored history, oldest first; over the
xhr-streaming fallback the session cookie identifies bob as well.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
Started by django_example_test.sh, which installs Chromium and the Python packages first.
"""
import argparse
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
import uuid

from selenium.common.exceptions import TimeoutException, WebDriverException
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect as ws_connect
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_test import make_driver  # noqa: E402
from perigee_server import REPO_ROOT, PerigeeServer, Results, ServerError, free_port, port_open  # noqa: E402

EXAMPLE = os.path.join(REPO_ROOT, "examples", "django-shoutbox")
EXAMPLE_PY = os.environ.get("DJANGO_EXAMPLE_PYTHON", os.path.join(EXAMPLE, ".venv", "bin", "python"))
TIMEOUT = 15.0
MAX_LENGTH = 280


def wait(driver, predicate, timeout=TIMEOUT):
    """Wait until `predicate()` is truthy; return its value, or False on timeout."""
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(WebDriverException,)).until(lambda _: predicate())
    except TimeoutException:
        return False


def state(driver):
    return driver.find_element(By.ID, "connection").text.strip()


def shown(driver):
    """(author, body, is announcement) of every line the page shows, in order."""
    return [tuple(row) for row in driver.execute_script(
        "return Array.from(document.querySelectorAll('#messages li')).map(li => ["
        "li.querySelector('.author').textContent, li.querySelector('.body').textContent,"
        "li.classList.contains('announcement')])")]


def bodies(driver):
    return [body for _, body, _ in shown(driver)]


def errors(driver):
    return driver.execute_script("return window.shoutbox ? window.shoutbox.errors : []")


def shout(driver, text):
    box = driver.find_element(By.ID, "shout_text")
    box.clear()
    box.send_keys(text)
    driver.find_element(By.ID, "send_shout").click()


def log_in(driver, base, username):
    driver.get(base + "/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(f"{username}-password")
    driver.find_element(By.ID, "log_in").click()
    return wait(driver, lambda: driver.find_elements(By.ID, "whoami"))


def config_for(django_port, api_key, path):
    """The example's perigee.yaml, pointed at this test's Django and carrying its API key."""
    with open(os.path.join(EXAMPLE, "perigee.yaml")) as f:
        text = f.read()
    if text.count("127.0.0.1:8000") < 3:
        raise ServerError("examples/django-shoutbox/perigee.yaml no longer names Django at 127.0.0.1:8000 "
                          "(origin and two hooks): update this test")
    text = text.replace("127.0.0.1:8000", f"127.0.0.1:{django_port}")
    text, keys = re.subn(r'(?m)^(\s*django:\s*)"[^"]*"', rf'\g<1>"{api_key}"', text)
    if keys != 1:
        raise ServerError("examples/django-shoutbox/perigee.yaml has no api_keys.django line")
    with open(path, "w") as f:
        f.write(text)


class Django:
    """The example's Django: manage.py commands, and runserver in its own process group."""

    def __init__(self, out, port, env):
        self.port, self.env, self.proc = port, env, None
        self.log_path = os.path.join(out, "django.log")
        open(self.log_path, "w").close()

    def manage(self, *args):
        return subprocess.run([EXAMPLE_PY, "manage.py", *args], cwd=EXAMPLE, env=self.env,
                              capture_output=True, text=True, timeout=300)

    def start(self):
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [EXAMPLE_PY, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
                cwd=EXAMPLE, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"Django did not listen on {self.port}; log tail:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def log_tail(self, lines=30):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


def unit_tests(res, django):
    """The example's own tests (manage.py test), one check per test."""
    run = django.manage("test", "-v", "2")
    outcomes = re.findall(r"^(test_\w+) \([\w.]+\)[^\n]*? \.\.\. (ok|FAIL|ERROR|skipped.*)$", run.stderr, re.M)
    for name, outcome in outcomes:
        res.check(f"django unit test {name}", outcome == "ok" or outcome.startswith("skipped"), outcome)
    res.check("django unit tests: manage.py test exits 0 and ran tests", run.returncode == 0 and outcomes,
              (run.stdout + run.stderr)[-3000:])


# Connects with perigee.js (one attempt) from a page of Django's origin that is not logged in
# (the login page) and reports how that ended: the first ERROR frame, or what else happened.
ANONYMOUS_CONNECT = """
const [perigeeUrl, done] = arguments;
import(perigeeUrl + "/perigee.js").then(({ PerigeeClient }) => {
  const errors = [];
  const client = new PerigeeClient({ url: perigeeUrl + "/stomp", transports: ["websocket"], reconnect: false,
    onConnect: () => done({ connected: true }),
    onStateChange: (state) => { if (state === "disconnected") done({ disconnected: errors }); },
    onError: (e) => {
      if (e.frame) done({ message: e.frame.headers.message, body: e.frame.body });
      else errors.push(e.message);
    } });
  client.connect();
}, (e) => done({ importError: String(e) }));
"""

# Sends from bob's page with the client directly, past the page's own checks, as a modified
# page could.
RAW_SEND = "window.shoutbox.client.send(arguments[0], arguments[1], arguments[2] || {});"

# bob's page posts to /announce with his CSRF token, as a modified page could.
BOB_ANNOUNCES = """
const done = arguments[0];
const data = new FormData();
data.append("text", "bob pretends to be staff");
data.append("csrfmiddlewaretoken", document.querySelector("[name=csrfmiddlewaretoken]").value);
fetch("/announce", { method: "POST", body: data }).then((r) => done(r.status), (e) => done(String(e)));
"""


def anonymous(res, perigee, django):
    """A browser that is not logged in gets nowhere: Django sends it to the login page, and
    perigee.js, whether from Perigee's own shoutbox page or from a Django page, is refused."""
    driver = make_driver()
    try:
        driver.get(django.url + "/")
        res.check("anonymous: the shoutbox page sends a browser that is not logged in to the login page",
                  "/login/" in driver.current_url, driver.current_url)
        driver.set_script_timeout(TIMEOUT)
        answer = driver.execute_async_script(ANONYMOUS_CONNECT, perigee.http_url)
        # The contract has the hook's reason as the ERROR body; the server may put words around it.
        res.check("anonymous: perigee.js on Django's login page is refused with ERROR unauthorized "
                  "and the connect hook's reason",
                  isinstance(answer, dict) and answer.get("message") == "unauthorized"
                  and "not logged in" in (answer.get("body") or ""), repr(answer))
        # The same site under a name Perigee's origins.allowed does not list: no CORS, so the
        # browser does not even run perigee.js.
        driver.get(django.url.replace("127.0.0.1", "localhost") + "/login/")
        answer = driver.execute_async_script(ANONYMOUS_CONNECT, perigee.http_url)
        res.check("anonymous: a page from an origin Perigee does not allow cannot load perigee.js (no CORS)",
                  isinstance(answer, dict) and "importError" in answer, repr(answer))
        # Perigee's own shoutbox page (web/index.html) at Perigee's origin: the same refusal.
        driver.get(perigee.http_url + "/")
        notice = wait(driver, lambda: "unauthorized" in driver.find_element(By.ID, "notice").text
                      and driver.find_element(By.ID, "notice").text)
        res.check("anonymous: Perigee's own shoutbox page reports ERROR unauthorized and never connects",
                  str(notice).startswith("STOMP ERROR: unauthorized") and state(driver) != "connected",
                  f"notice {notice!r}, state {state(driver)!r}")
    finally:
        driver.quit()


def stomp_connect(perigee, origin, session_key):
    """A STOMP CONNECT over a WebSocket whose handshake carries `origin` and the session cookie,
    as a page on `origin` would open it: the CONNECTED's perigee-user, or how it failed."""
    try:
        with ws_connect(perigee.http_url.replace("http:", "ws:") + "/stomp", origin=origin, proxy=None,
                        subprotocols=["v12.stomp"], additional_headers={"Cookie": f"sessionid={session_key}"},
                        open_timeout=TIMEOUT) as ws:
            ws.send("CONNECT\naccept-version:1.2\nhost:127.0.0.1\n\n\x00")
            head = ws.recv(timeout=TIMEOUT).split("\n\n", 1)[0].split("\n")
            headers = dict(line.split(":", 1) for line in head[1:] if ":" in line)
            return f"{head[0]} {headers.get('perigee-user')}"
    except InvalidStatus as e:
        return f"HTTP {e.response.status_code}"
    except (OSError, TimeoutError, WebSocketException) as e:
        return f"{type(e).__name__}: {e}"


def new_lines(driver, before):
    return shown(driver)[before:]


def run(res, perigee, django, windows, db_path):
    tag = uuid.uuid4().hex[:6]
    alice = windows["alice"] = make_driver()
    bob = windows["bob"] = make_driver()
    for name, driver in (("alice", alice), ("bob", bob)):
        res.check(f"{name} logs in", log_in(driver, django.url, name), driver.current_url)
        res.check(f"{name}'s window connects to Perigee", wait(driver, lambda d=driver: state(d) == "connected"),
                  f"state {state(driver)!r}, errors {errors(driver)!r}")
    if not all(state(d) == "connected" for d in (alice, bob)):
        return
    # Cookies alone would let any site's page open a WebSocket as alice: Perigee's Origin check
    # is what stops that (cross-site WebSocket hijacking).
    session_key = alice.get_cookie("sessionid")["value"]
    answer = stomp_connect(perigee, django.url, session_key)
    res.check("a handshake from Django's origin with alice's session cookie connects as alice",
              answer == "CONNECTED alice", answer)
    answer = stomp_connect(perigee, "http://evil.example", session_key)
    res.check("the same handshake from another origin is refused (HTTP 403)", answer == "HTTP 403", answer)
    res.check("alice (staff) sees the announce form, bob does not",
              alice.find_elements(By.ID, "announce_form") and not bob.find_elements(By.ID, "announce_form"))

    first = f"hello bob, this is alice {tag}"
    shout(alice, first)
    res.check("a shout from alice shows up in bob's window, by alice",
              wait(bob, lambda: ("alice", first, False) in shown(bob)), repr(shown(bob)[-3:]))
    res.check("... and in alice's own", wait(alice, lambda: ("alice", first, False) in shown(alice)))
    second = f"hi alice <b>it's</b> bob & co {tag}"
    shout(bob, second)
    res.check("a shout from bob (with markup, shown as text) shows up in alice's window, by bob",
              wait(alice, lambda: ("bob", second, False) in shown(alice)), repr(shown(alice)[-3:]))
    res.check("... and no element was made from its markup",
              not alice.find_elements(By.CSS_SELECTOR, "#messages b"))
    forged = f"bob says he is alice {tag}"
    bob.execute_script(RAW_SEND, "/topic/shouts", forged, {"perigee-user": "alice"})
    res.check("a SEND with a forged perigee-user header still shows bob as its author",
              wait(alice, lambda: ("bob", forged, False) in shown(alice)), repr(shown(alice)[-3:]))
    wait(bob, lambda: forged in bodies(bob))
    padded = f"space around me {tag}"
    bob.execute_script(RAW_SEND, "/topic/shouts", f"  \t{padded}  ")
    res.check("the send hook's body replaces the SEND's: the shout arrives stripped",
              wait(alice, lambda: ("bob", padded, False) in shown(alice)), repr(shown(alice)[-3:]))
    wait(bob, lambda: padded in bodies(bob))

    # Refused shouts: the send hook answers 403, Perigee sends bob an ERROR and closes; the
    # page reconnects. Nobody gets them; the next valid shout is the only line that arrives.
    before_alice, before_bob = len(shown(alice)), len(shown(bob))
    for body, reason in (("x" * (MAX_LENGTH + 1), f"shout longer than {MAX_LENGTH} characters"),
                         (" \t ", "empty shout")):
        seen = len(errors(bob))
        bob.execute_script(RAW_SEND, "/topic/shouts", body)
        res.check(f"a refused shout ({reason}) gets bob ERROR 'send refused' with the send hook's reason",
                  wait(bob, lambda: any(e.startswith("send refused: ") and reason in e for e in errors(bob)[seen:])),
                  repr(errors(bob)))
        res.check("... and bob's window connects again", wait(bob, lambda: state(bob) == "connected", 30),
                  state(bob))
    valid = f"this one is fine {tag}"
    shout(bob, valid)
    wait(alice, lambda: valid in bodies(alice))
    res.check("after the refused shouts, the next valid shout is the only new line in alice's window",
              new_lines(alice, before_alice) == [("bob", valid, False)], repr(new_lines(alice, before_alice)))
    wait(bob, lambda: valid in bodies(bob))
    res.check("... and in bob's", new_lines(bob, before_bob) == [("bob", valid, False)],
              repr(new_lines(bob, before_bob)))
    with sqlite3.connect(db_path) as db:
        stored = db.execute("SELECT id, text FROM shouts_shout WHERE announcement = 0 ORDER BY id").fetchall()
    res.check("Django stored the accepted shouts and none of the refused",
              [t for (_, t) in stored] == [first, second, forged, padded, valid], repr(stored))
    live_ids = dict(alice.execute_script(
        "return Array.from(document.querySelectorAll('#messages li')).map(li => "
        "[li.querySelector('.body').textContent, li.dataset.shoutId])"))
    res.check("each live shout carries the x-shout-id the send hook added (its id in Django)",
              all(live_ids.get(t) == str(i) for (i, t) in stored), f"stored {stored!r}, shown {live_ids!r}")

    # The announcement: Django publishes it with one HTTP call; both windows get it live.
    announcement = f"tea in the kitchen {tag}"
    box = alice.find_element(By.ID, "announce_text")
    box.send_keys(announcement)
    alice.find_element(By.ID, "send_announcement").click()
    for name, driver in (("alice", alice), ("bob", bob)):
        res.check(f"alice's announcement shows up in {name}'s window as an announcement",
                  wait(driver, lambda d=driver: ("announcement", announcement, True) in shown(d)),
                  f"{shown(driver)[-3:]!r}, errors {errors(driver)!r}")
    notice = wait(alice, lambda: "Announced" in alice.find_element(By.ID, "notice").text
                  and alice.find_element(By.ID, "notice").text)
    res.check("alice's page says it was delivered to both windows",
              notice == "Announced (delivered to 2 subscribers).", repr(notice))
    status = bob.execute_async_script(BOB_ANNOUNCES)
    res.check("bob may not announce (403)", status == 403, repr(status))

    # A reload shows the stored history, oldest first, then live shouts again.
    bob.refresh()
    history = shown(bob)
    expected = [("alice", first, False), ("bob", second, False), ("bob", forged, False),
                ("bob", padded, False), ("bob", valid, False), ("announcement", announcement, True)]
    res.check("after a reload bob's window shows the stored history, oldest first",
              history == expected, repr(history))
    res.check("... and connects again", wait(bob, lambda: state(bob) == "connected"), state(bob))
    last = f"welcome back bob {tag}"
    shout(alice, last)
    res.check("... and shouts flow live again",
              wait(bob, lambda: bodies(bob)[-1:] == [last]) and shown(bob)[:len(expected)] == expected,
              repr(shown(bob)))

    # The SockJS fallback carries the session cookie too (credentialed cross-origin requests).
    bob.get(django.url + "/?transports=xhr-streaming")
    res.check("bob's window forced to xhr-streaming connects as bob",
              wait(bob, lambda: state(bob) == "connected")
              and bob.execute_script("return window.shoutbox.client.transport") == "xhr-streaming",
              f"state {state(bob)!r}, errors {errors(bob)!r}")
    over_sockjs = f"sent over xhr-streaming {tag}"
    shout(bob, over_sockjs)
    res.check("... and its shout reaches alice, by bob",
              wait(alice, lambda: ("bob", over_sockjs, False) in shown(alice)), repr(shown(alice)[-3:]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "django-example"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    res = Results()
    if not os.access(EXAMPLE_PY, os.X_OK):
        res.check("the example's venv exists", False,
                  f"{EXAMPLE_PY} missing: run `make -C examples/django-shoutbox venv`")
        print(res.tally())
        return 1

    api_key = secrets.token_urlsafe(24)
    django_port = free_port()
    db_path = os.path.join(args.out, "db.sqlite3")
    if os.path.exists(db_path):
        os.remove(db_path)
    perigee = PerigeeServer(os.path.join(args.out, "server.log"), with_stomp=False,
                            config=os.path.join(args.out, "perigee.yaml"))
    env = dict(os.environ, PERIGEE_URL=perigee.http_url, PERIGEE_API_KEY=api_key, SHOUTBOX_DB=db_path,
               DJANGO_DEBUG="1", PYTHONUNBUFFERED="1")
    django = Django(args.out, django_port, env)
    windows = {}
    try:
        unit_tests(res, django)
        for command in (("migrate", "--noinput"), ("create_demo_users",)):
            done = django.manage(*command)
            if not res.check(f"manage.py {' '.join(command)}", done.returncode == 0, done.stdout + done.stderr):
                raise ServerError("the example's database could not be set up")
        config_for(django_port, api_key, perigee.config)
        django.start()
        perigee.start()
        print(f"[django-example] Django {django.url} (log {django.log_path}), "
              f"Perigee {perigee.http_url} (log {perigee.log_path})", flush=True)
        anonymous(res, perigee, django)
        run(res, perigee, django, windows, db_path)
        for name, driver in windows.items():
            driver.save_screenshot(os.path.join(args.out, f"{name}.png"))
    except ServerError as e:
        res.check("servers run", False, str(e))
    except Exception:  # a crash in the test is a failure, reported with its traceback
        res.check("django example test ran to the end", False, traceback.format_exc())
    finally:
        if perigee.proc is not None and not perigee.alive():
            res.check("Perigee stayed up", False, perigee.log_tail())
        if django.proc is not None and django.proc.poll() is not None:
            res.check("Django stayed up", False, django.log_tail())
        for driver in windows.values():
            try:
                driver.quit()
            except WebDriverException:
                pass
        perigee.stop()
        django.stop()
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
