"""A stomp.py listener for the external tests: keeps message bodies, receipt ids, ERROR
messages and whether the connection dropped, and lets a test wait on any of them."""
import threading

import stomp


class Collector(stomp.ConnectionListener):
    def __init__(self):
        self.bodies = []
        self.receipts = []
        self.errors = []
        self.disconnected = False
        self.cond = threading.Condition()

    def on_message(self, frame):
        with self.cond:
            self.bodies.append(frame.body)
            self.cond.notify_all()

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.append(frame.headers.get("receipt-id"))
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.errors.append(frame.headers.get("message"))
            self.cond.notify_all()

    def on_disconnected(self):
        with self.cond:
            self.disconnected = True
            self.cond.notify_all()

    def wait(self, predicate, timeout=10.0):
        """Waits until `predicate()` (called under the lock) is true; False at the deadline."""
        with self.cond:
            return self.cond.wait_for(predicate, timeout)
