#!/usr/bin/env python3
"""The live status page (web/status.html + status.js) in headless Chromium, driven by selenium.

Starts the server (perigee_server.py: PERIGEE_BIN / PERIGEE_CMD) with an admin API key and a
non-admin one, opens status.html and checks as an operator would: an unknown key is refused
(unauthorized) and a key without the admin role too (permission denied), each with a clear
message and nothing kept; the admin key connects over WebSocket and, while a STOMP client
sends and receives about 20 messages a second, the page shows live numbers: messages/s in and
out above zero, at least one WebSocket connection in the transport table, the subscriptions,
and the ERROR frames of the refused attempts by message. The key never appears in the URL; it
stays in sessionStorage, so a reload reconnects. A screenshot goes to --screenshot.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
Started by status_page_test.sh, which installs Chromium and the Python packages first.
"""
import argparse
import os
import sys
import threading
import time
import traceback
import uuid

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_test import console_errors, make_driver, wait_for  # noqa: E402
from perigee_server import PerigeeServer, Results, ServerError  # noqa: E402
from stomp_transports import open_client  # noqa: E402

ADMIN_KEY = "status-test-ops-" + uuid.uuid4().hex
BACKEND_KEY = "status-test-backend-" + uuid.uuid4().hex
TIMEOUT = 15.0


def text(driver, element_id):
    return driver.find_element(By.ID, element_id).text.strip()


def number(driver, element_id):
    try:
        return float(text(driver, element_id).replace(",", ""))
    except (ValueError, WebDriverException):
        return None


def transport_open(driver, name):
    rows = driver.find_elements(By.CSS_SELECTOR, f'#transports tr[data-name="{name}"] td.open')
    try:
        return float(rows[0].text.replace(",", "")) if rows else None
    except ValueError:
        return None


def error_rows(driver):
    return [row.get_attribute("data-name") for row in driver.find_elements(By.CSS_SELECTOR, "#errors tr")]


def enter_key(driver, key):
    field = driver.find_element(By.ID, "admin_key")
    field.clear()
    field.send_keys(key)
    driver.find_element(By.ID, "connect").click()


def stored_key(driver):
    return driver.execute_script("return sessionStorage.getItem('perigee.status.adminKey');")


class Load:
    """A STOMP client over WebSocket that subscribes to a topic and sends to it ~20 times a
    second, so that messages flow in and out while the page watches."""

    def __init__(self, server):
        self.client = open_client("websocket", server)
        frame = self.client.connect({"passcode": BACKEND_KEY})
        if frame is None or frame.command != "CONNECTED":
            raise RuntimeError(f"load client: CONNECT answered {frame!r}")
        self.client.subscribe("/topic/load")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        sent = 0
        while not self.stop.wait(0.05):
            self.client.send("/topic/load", f"load {sent}")
            sent += 1

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.client.close()


def run(server, res, screenshot, drivers):
    base = server.http_url
    driver = make_driver()
    drivers.append(driver)
    driver.get(base + "/status.html")
    res.check("status.html loads and shows 'disconnected'", wait_for(lambda: text(driver, "state") == "disconnected"),
              driver.page_source[:500])

    enter_key(driver, "not-a-key-" + uuid.uuid4().hex)
    refused = wait_for(lambda: "unauthorized" in text(driver, "notice") and text(driver, "notice"))
    res.check("an unknown key is refused with a clear message", refused, text(driver, "notice"))
    res.check("... and is not kept", stored_key(driver) is None, stored_key(driver))

    enter_key(driver, BACKEND_KEY)
    denied = wait_for(lambda: "permission denied" in text(driver, "notice") and text(driver, "notice"))
    res.check("a key without the admin role is refused (permission denied)", denied, text(driver, "notice"))
    res.check("the page stops retrying after a refusal",
              wait_for(lambda: text(driver, "state") == "disconnected", timeout=5), text(driver, "state"))

    load = Load(server)
    try:
        enter_key(driver, ADMIN_KEY)
        res.check("the admin key connects over websocket",
                  wait_for(lambda: text(driver, "state") == "connected" and text(driver, "transport") == "websocket"),
                  f"{text(driver, 'state')} via {text(driver, 'transport')}; notice {text(driver, 'notice')!r}")
        res.check("the key is not in the URL", ADMIN_KEY not in driver.current_url, driver.current_url)
        res.check("the key is kept in sessionStorage", stored_key(driver) == ADMIN_KEY, stored_key(driver))
        res.check("the key field is emptied", driver.find_element(By.ID, "admin_key").get_attribute("value") == "")

        live = wait_for(lambda: (number(driver, "messages_out_rate") or 0) > 0 and (number(driver, "messages_in_rate") or 0) > 0)
        res.check("messages/s in and out show live nonzero numbers", live,
                  f"in {text(driver, 'messages_in_rate')!r}, out {text(driver, 'messages_out_rate')!r}")
        res.check("at least one websocket connection in the transport table",
                  wait_for(lambda: (transport_open(driver, "websocket") or 0) >= 1), transport_open(driver, "websocket"))
        res.check("the connections tile counts them", (number(driver, "connections") or 0) >= 2, text(driver, "connections"))
        res.check("subscriptions are counted (the page's and the load client's)",
                  (number(driver, "subscriptions") or 0) >= 2, text(driver, "subscriptions"))
        res.check("slow-consumer drops show a number", number(driver, "slow_consumer_drops") is not None,
                  text(driver, "slow_consumer_drops"))
        errors = wait_for(lambda: {"unauthorized", "permission denied"} <= set(error_rows(driver)) and error_rows(driver))
        res.check("errors by message list the refused attempts", errors, error_rows(driver))
        drawn = driver.execute_script(
            "const c = document.getElementById('messages_out_rate_chart');"
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true; return false;")
        res.check("the messages-out chart is drawn", drawn)
        time.sleep(4)  # a few more points on every chart for the screenshot
        os.makedirs(os.path.dirname(screenshot), exist_ok=True)
        driver.save_screenshot(screenshot)
        res.check("screenshot saved", os.path.getsize(screenshot) > 0, screenshot)
        print(f"[status-page] screenshot: {screenshot}", flush=True)

        driver.refresh()
        res.check("after a reload the kept key reconnects by itself",
                  wait_for(lambda: text(driver, "state") == "connected"), text(driver, "state"))
        res.check("... and numbers flow again", wait_for(lambda: (number(driver, "messages_out_rate") or 0) > 0),
                  text(driver, "messages_out_rate"))
    finally:
        load.close()
    res.check("no errors in the browser console", not console_errors(driver), console_errors(driver))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "out", "status-page"))
    ap.add_argument("--screenshot", default=os.path.join(here, "out", "status.png"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    config = os.path.join(args.out, "perigee.yaml")
    with open(config, "w") as f:
        f.write("# Written by status_page_test.py\n"
                f'api_keys:\n  backend: "{BACKEND_KEY}"\n  ops: {{secret: "{ADMIN_KEY}", roles: [admin]}}\n')
    server = PerigeeServer(os.path.join(args.out, "server.log"), config=config)
    res = Results()
    drivers = []
    try:
        server.start()
        print(f"[status-page] server log: {server.log_path}", flush=True)
        run(server, res, args.screenshot, drivers)
    except ServerError as e:
        res.check("server runs", False, str(e))
    except Exception:  # a crash in the test is a failure, reported with its traceback
        res.check("status page test ran to the end", False, traceback.format_exc())
    finally:
        for d in drivers:
            try:
                d.quit()
            except WebDriverException:
                pass
        server.stop()
    print(res.tally())
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
