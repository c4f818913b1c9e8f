#!/usr/bin/env python3
"""History, resume and presence (issue 11) in the shoutbox, in headless Chromium (selenium).

The server runs with `channels: {"/topic/shouts": {history, presence, join_leave}}`, JWT
(HS256) users, a publishing API key and an admin API key. Checks, as a person would see them:
- history: shouts published before a page opens are shown when it opens, once each, in order;
- a server restart (same port, so a new epoch): the open page reconnects, cannot resume, shows
  the recovery notice (#recovery_notice), and works live afterwards (an HTTP publish and a
  shout of its own show up);
- a forced transport fallback: the page on websocket is disconnected by the admin API while
  WebSocket is broken and the SockJS URLs are blocked; a shout published meanwhile reaches
  nobody (`delivered: 0`); once the SockJS URLs are let through the page reconnects over
  xhr-streaming, resumes, and shows that shout exactly once, with no notice;
- who is here: alice (a JWT with a `presence` claim naming her "Alice", two tabs: xhr-polling
  and websocket), bob (a JWT) and an anonymous page see alice and bob listed once each, the
  anonymous page counted ("1 anonymous viewer"), never listed; closing one of alice's tabs
  keeps her listed, closing the other makes her leave, and so does bob when his page closes.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
Started by browser_test.sh after browser_test.py.
"""
import argparse
import os
import sys
import time
import traceback
import urllib.parse
import uuid

import jwt
import requests
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_test import make_driver, shout, shown_bodies, state, transport, wait_for  # noqa: E402
from perigee_server import PerigeeServer, Results, ServerError  # noqa: E402

HS_SECRET = "history-browser-test-secret-0123456789abcdef"
PUBLISHER = "publisher-" + uuid.uuid4().hex
ADMIN = "admin-" + uuid.uuid4().hex
DESTINATION = "/topic/shouts"
# The SockJS transports (one session URL each) and a slow SockJS session timeout on the
# server: waits that involve them get longer.
SLOW = 40.0

CONFIG = f"""# Written by history_browser_test.py.
auth:
  jwt:
    hs256_secret: "{HS_SECRET}"
api_keys:
  publisher: "{PUBLISHER}"
  ops: {{secret: "{ADMIN}", roles: [admin]}}
channels:
  "{DESTINATION}": {{history: 100, presence: true, join_leave: true}}
"""


def token(user, presence=None):
    claims = {"sub": user, "exp": int(time.time()) + 3600}
    if presence is not None:
        claims["presence"] = presence
    return jwt.encode(claims, HS_SECRET, algorithm="HS256")


def publish(base, body):
    """POST to the publish API as the publisher key; returns (status, JSON or None)."""
    try:
        r = requests.post(f"{base}/api/publish{DESTINATION}", data=body.encode("utf-8"),
                          headers={"Content-Type": "text/plain", "Authorization": f"Bearer {PUBLISHER}"},
                          timeout=10)
    except requests.RequestException as e:
        return None, repr(e)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text[:300]


def admin(method, path):
    return requests.request(method, path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)


def count(driver, body):
    return shown_bodies(driver).count(body)


def notice(driver):
    """The recovery notice's text when it is shown, else ""."""
    return driver.execute_script(
        "const n = document.getElementById('recovery_notice');"
        "return n && !n.hidden && n.offsetParent !== null ? n.textContent : ''")


def recoveries(driver):
    return driver.execute_script("return window.shoutboxRecoveries || null")


def who(driver):
    """The user ids listed under "Who is here", in order."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#who li')).map(li => li.dataset.user)")


def anonymous(driver):
    return driver.find_element(By.ID, "anonymous_count").text.strip()


def open_page(driver, base, query=""):
    driver.get(base + "/" + query)
    return wait_for(lambda: state(driver) == "connected")


def history_and_restart(server, res, page, tag):
    base = server.http_url
    early = [f"before the page opened {i} {tag}" for i in range(3)]
    for body in early:
        status, answer = publish(base, body)
        res.check(f"publish {body!r} answers 202", status == 202, f"{status} {answer!r}")
    ok = open_page(page, base, "?transports=websocket")
    res.check("the page connects over websocket", ok and transport(page) == "websocket",
              f"{state(page)!r} {transport(page)!r}")
    if not ok:
        return False
    shown = wait_for(lambda: [b for b in shown_bodies(page) if tag in b] == early)
    res.check("shouts published before the page opened are shown once each, in order (perigee-history)",
              shown, repr(shown_bodies(page)))
    res.check("no recovery notice on opening", notice(page) == "", notice(page))

    server.stop()
    res.check("the page notices the server went away",
              wait_for(lambda: state(page) in ("reconnecting", "connecting")), state(page))
    server.start()
    ok = wait_for(lambda: state(page) == "connected", timeout=SLOW)
    res.check("the page reconnects after the restart", ok, state(page))
    if not ok:
        return False
    shown = wait_for(lambda: notice(page))
    res.check("after the restart (a new epoch) the page shows the recovery notice",
              shown and "missing" in shown, repr(shown))
    res.check("... because its resume answered recovered:false",
              recoveries(page) == [False], repr(recoveries(page)))
    after = f"published after the restart {tag}"
    status, answer = publish(base, after)
    res.check("publish after the restart answers 202", status == 202, f"{status} {answer!r}")
    res.check("... and shows up live on the page, once",
              wait_for(lambda: count(page, after) == 1), repr(shown_bodies(page)[-5:]))
    own = f"shouted after the restart {tag}"
    shout(page, own)
    res.check("a shout from the page after the restart shows up",
              wait_for(lambda: count(page, own) == 1), repr(shown_bodies(page)[-5:]))
    res.check("the shouts shown before the restart are still shown",
              all(count(page, b) == 1 for b in early), repr(shown_bodies(page)))
    return True


# Run in the page: from now on every WebSocket it opens goes to a path where the server
# refuses the Upgrade (a proxy that strips it); the one already open is not touched.
BREAK_WEBSOCKET = """
const Real = window.WebSocket;
window.WebSocket = function (url, protocols) {
  return new Real(String(url).replace(/\\/stomp$/, "/no-websocket-here"), protocols);
};
window.WebSocket.prototype = Real.prototype;
"""


def fallback_without_loss(server, res, page, tag):
    base = server.http_url
    ok = open_page(page, base)  # the default transports: websocket first
    res.check("a fresh page connects over websocket by default", ok and transport(page) == "websocket",
              f"{state(page)!r} {transport(page)!r}")
    if not ok:
        return
    # The page is live once its SUBSCRIBE is answered: a shout then reaches it.
    probe = f"live before the fallback {tag}"
    publish(base, probe)
    res.check("a publish reaches the page before the fallback",
              wait_for(lambda: count(page, probe) == 1), repr(shown_bodies(page)[-5:]))
    session = page.execute_script("return window.perigee.session")
    page.execute_script(BREAK_WEBSOCKET)
    page.execute_cdp_cmd("Network.enable", {})
    page.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/stomp/*"]})
    r = admin("DELETE", f"{base}/api/sessions/{urllib.parse.quote(str(session), safe='')}")
    res.check(f"the admin API disconnects the page's session {session}", r.status_code == 200,
              f"{r.status_code} {r.text[:300]!r}")
    res.check("the page is away (reconnecting, every transport failing)",
              wait_for(lambda: state(page) == "reconnecting"), state(page))
    away = f"published while the page was away {tag}"
    status, answer = publish(base, away)
    nobody = status == 202 and isinstance(answer, dict) and answer.get("delivered") == 0
    res.check("a publish while the page is away is delivered to nobody", nobody,
              f"{status} {answer!r}" + ("" if nobody else "; sessions: " + admin("GET", f"{base}/api/sessions").text[:2000]))
    page.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    ok = wait_for(lambda: state(page) == "connected", timeout=SLOW)
    res.check("with the SockJS URLs let through, the page reconnects over xhr-streaming (WebSocket still broken)",
              ok and transport(page) == "xhr-streaming", f"{state(page)!r} {transport(page)!r}")
    res.check("the shout published while the page was away is shown exactly once",
              wait_for(lambda: count(page, away) >= 1) and count(page, away) == 1, repr(shown_bodies(page)[-5:]))
    res.check("... after the one before the fallback (in order)",
              shown_bodies(page).index(probe) < shown_bodies(page).index(away) if count(page, away) else False,
              repr(shown_bodies(page)[-5:]))
    res.check("the resume answered recovered:true", wait_for(lambda: recoveries(page) == [True]),
              repr(recoveries(page)))
    res.check("no recovery notice after a successful resume", notice(page) == "", notice(page))
    live = f"live after the fallback {tag}"
    publish(base, live)
    res.check("a publish after the fallback shows up once",
              wait_for(lambda: count(page, live) == 1), repr(shown_bodies(page)[-5:]))
    res.check("... and the one published while away is still shown once", count(page, away) == 1,
              repr(shown_bodies(page)[-5:]))


def presence_api(base, user):
    """alice's session count in GET /api/presence (0 when she is not listed)."""
    try:
        r = requests.get(f"{base}/api/presence{DESTINATION}", headers={"Authorization": f"Bearer {PUBLISHER}"},
                         timeout=10)
        users = r.json().get("users", [])
    except (requests.RequestException, ValueError, AttributeError):
        return None
    return next((u.get("sessions") for u in users if u.get("user") == user), 0)


def presence(server, res, windows):
    base = server.http_url
    alice_token = token("alice", {"name": "Alice"})
    windows["alice"] = alice = make_driver()
    windows["bob"] = bob = make_driver()
    windows["anonymous"] = anon = make_driver()
    ok = open_page(alice, base, f"?transports=xhr-polling&token={alice_token}")
    first_tab = alice.current_window_handle
    alice.switch_to.new_window("tab")
    ok = open_page(alice, base, f"?transports=websocket&token={alice_token}") and ok
    second_tab = alice.current_window_handle
    ok = open_page(bob, base, f"?token={token('bob')}") and ok
    ok = open_page(anon, base) and ok
    res.check("alice (two tabs), bob and an anonymous page connect", ok)
    if not ok:
        return
    everyone = ["alice", "bob"]
    for name, d in (("bob", bob), ("the anonymous page", anon), ("alice's second tab", alice)):
        res.check(f"{name} lists alice and bob, each once", wait_for(lambda d=d: who(d) == everyone), repr(who(d)))
    alice.switch_to.window(first_tab)
    res.check("alice's first tab (xhr-polling) lists alice and bob", wait_for(lambda: who(alice) == everyone),
              repr(who(alice)))
    shown_as = anon.execute_script(
        "const li = document.querySelector('#who li[data-user=\"alice\"]'); return li && li.textContent")
    res.check("alice is shown by her presence claim's name", shown_as == "Alice", repr(shown_as))
    res.check("the anonymous page counts itself and is not listed",
              wait_for(lambda: anonymous(anon) == "1 anonymous viewer"), repr(anonymous(anon)))
    res.check("the presence API counts alice's two sessions", wait_for(lambda: presence_api(base, "alice") == 2),
              repr(presence_api(base, "alice")))

    alice.close()  # the first tab (xhr-polling): the server notices when its SockJS session times out
    alice.switch_to.window(second_tab)
    res.check("with one of alice's tabs closed, the presence API counts one session",
              wait_for(lambda: presence_api(base, "alice") == 1, timeout=SLOW), repr(presence_api(base, "alice")))
    # A shout published now reaches bob after any event the topic sent before it (one
    # ordering point per topic): once it is shown, a wrong leave would have been too.
    barrier = f"after alice closed a tab {uuid.uuid4().hex[:8]}"
    publish(base, barrier)
    shown = all(wait_for(lambda d=d: barrier in shown_bodies(d)) for d in (bob, anon))
    res.check("... and bob and the anonymous page still list alice (no leave while she has a tab open)",
              shown and who(bob) == everyone and who(anon) == everyone,
              f"barrier shown {shown}, bob {who(bob)!r}, anonymous {who(anon)!r}")
    alice.quit()
    del windows["alice"]
    for name, d in (("bob", bob), ("the anonymous page", anon)):
        res.check(f"closing alice's last tab makes her leave {name}'s list",
                  wait_for(lambda d=d: who(d) == ["bob"], timeout=SLOW), repr(who(d)))
    bob.quit()
    del windows["bob"]
    res.check("closing bob's page makes him leave the anonymous page's list",
              wait_for(lambda: who(anon) == [], timeout=SLOW), repr(who(anon)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "browser"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    res = Results()
    config = os.path.join(args.out, "perigee-history.yaml")
    with open(config, "w") as f:
        f.write(CONFIG)
    server = PerigeeServer(os.path.join(args.out, "server-history.log"), with_stomp=False, config=config)
    windows = {}
    tag = uuid.uuid4().hex[:8]
    try:
        server.start()
        print(f"[history] server log: {server.log_path}")
        windows["page"] = page = make_driver()
        if history_and_restart(server, res, page, tag):
            fallback_without_loss(server, res, page, tag)
        page.save_screenshot(os.path.join(args.out, "history-page.png"))
        page.quit()
        del windows["page"]
        presence(server, res, windows)
        if "anonymous" in windows:
            windows["anonymous"].save_screenshot(os.path.join(args.out, "history-presence.png"))
    except ServerError as e:
        res.check("server runs", False, str(e))
    except WebDriverException as e:
        res.check("headless Chromium runs", False, str(e))
    except Exception:  # a crash in the test is a failure, reported with its traceback
        res.check("history browser test ran to the end", False, traceback.format_exc())
    finally:
        if server.proc is not None and not server.alive():
            res.check("server stayed up", False, server.log_tail())
        for d in windows.values():
            try:
                d.quit()
            except WebDriverException:
                pass
        server.stop()
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
