"""A scripted authorization-hook server for auth_test.py (issue 9's connect/subscribe/send hooks).

Each test sets, per hook name, a function from the decoded request to a Reply; the server
records every request it receives (path, headers, JSON body, arrival time) so that tests can
assert what Perigee sent. Replies may be delayed (a slow hook, or one slower than the gateway's
hooks.timeout_ms), may be any status and body (malformed JSON, 500, oversized), or may hang up
without answering. Requests are served on threads, so one slow reply never holds up another.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Reply:
    def __init__(self, status=200, body=None, delay=0.0, raw=None, hang_up=False, headers=None):
        self.status = status
        self.body = body          # JSON-encoded unless raw is given
        self.raw = raw            # bytes sent as is (malformed JSON, oversized answers)
        self.delay = delay        # seconds before answering
        self.hang_up = hang_up    # close the connection without answering
        self.headers = headers or {}  # extra response headers (Location of a redirect)


def allow(delay=0.0, **fields):
    return Reply(200, fields, delay)


def deny(reason):
    return Reply(403, {"reason": reason})


class HookRequest:
    def __init__(self, path, headers, raw, at):
        self.path = path
        self.headers = headers
        self.raw = raw
        self.at = at
        try:
            self.json = json.loads(raw.decode("utf-8"))
        except ValueError:
            self.json = None

    @property
    def hook(self):
        return (self.json or {}).get("hook")

    def __repr__(self):
        return f"{self.path} {self.raw[:400].decode('utf-8', 'replace')}"


class HookServer:
    def __init__(self):
        self.requests = []
        self.cond = threading.Condition()
        self.handlers = {}
        self.reset()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # head and body go out as separate writes

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                req = HookRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, raw,
                                  time.monotonic())
                with hooks.cond:
                    hooks.requests.append(req)
                    hooks.cond.notify_all()
                name = req.hook or self.path.rstrip("/").rsplit("/", 1)[-1]
                handler = hooks.handlers.get(name) or (lambda r: Reply(404, {"error": "no handler"}))
                try:
                    reply = handler(req)
                except Exception as e:  # noqa: BLE001 - a broken script answers 599, visibly
                    reply = Reply(599, {"error": repr(e)})
                if reply.delay:
                    time.sleep(reply.delay)  # the scripted latency of the hook itself
                if reply.hang_up:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                data = reply.raw if reply.raw is not None else json.dumps(reply.body or {}).encode("utf-8")
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the gateway gave up waiting (a timeout test)

            do_GET = do_POST  # a followed 302/303 redirect arrives as a GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/perigee"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reset(self, **handlers):
        """New scripts (hook name -> function(HookRequest) -> Reply); unnamed hooks allow."""
        self.handlers = {"connect": lambda r: allow(), "subscribe": lambda r: allow(),
                         "send": lambda r: allow()}
        self.handlers.update(handlers)

    def mark(self):
        with self.cond:
            return len(self.requests)

    def since(self, mark, hook=None, pred=lambda r: True):
        with self.cond:
            return [r for r in self.requests[mark:] if (hook is None or r.hook == hook) and pred(r)]

    def wait(self, mark, hook, pred=lambda r: True, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [r for r in self.requests[mark:] if r.hook == hook and pred(r)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
