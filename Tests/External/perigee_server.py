"""Start, stop and restart a Perigee server for the Python external tests.

The command line comes from the environment, so the same tests can run against another server:
  PERIGEE_CMD   whole command line, run by bash; '{port}', '{stomp_port}', '{config}' (the
                test's configuration file, if it has one) and '{web_root}' are replaced
  PERIGEE_BIN   the perigee binary (default .build/debug/perigee), started as
                BIN --host 127.0.0.1 --port P --stomp-port S --web-root DIR [--config FILE]
                (DIR is web unless the test serves its own files)
Relative paths are relative to the repository root, where the server runs.
"""
import os
import shlex
import signal
import socket
import subprocess
import time

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for(condition, timeout=10.0, interval=0.05):
    """Polls `condition` until it returns something truthy; returns that, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


class ServerError(Exception):
    pass


class PerigeeServer:
    """One server process at a time, on fixed ports (kept across restarts)."""

    def __init__(self, log_path, port=None, stomp_port=None, with_stomp=True, config=None,
                 start_timeout=30.0, web_root="web"):
        self.config = config
        self.web_root = web_root
        self.port = port or free_port()
        self.stomp_port = (stomp_port or free_port()) if with_stomp else 0
        self.log_path = log_path
        self.start_timeout = start_timeout
        self.proc = None
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        open(log_path, "w").close()

    @property
    def command(self):
        cmd = os.environ.get("PERIGEE_CMD")
        if cmd:
            return (cmd.replace("{port}", str(self.port)).replace("{stomp_port}", str(self.stomp_port))
                    .replace("{config}", shlex.quote(self.config or ""))
                    .replace("{web_root}", shlex.quote(self.web_root)))
        binary = os.environ.get("PERIGEE_BIN", ".build/debug/perigee")
        path = binary if os.path.isabs(binary) else os.path.join(REPO_ROOT, binary)
        if not os.access(path, os.X_OK):
            raise ServerError(f"server binary not found or not executable: {path} "
                              "(run `swift build`, or set PERIGEE_BIN / PERIGEE_CMD)")
        args = [path, "--host", "127.0.0.1", "--port", str(self.port),
                "--stomp-port", str(self.stomp_port), "--web-root", self.web_root]
        if self.config:
            args += ["--config", self.config]
        return " ".join(shlex.quote(a) for a in args)

    def start(self):
        cmd = self.command
        with open(self.log_path, "a") as log:
            log.write(f"--- starting: {cmd}\n")
            log.flush()
            # Own session/process group, so stop() also ends anything the command spawned.
            self.proc = subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=REPO_ROOT, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        ports = [p for p in (self.port, self.stomp_port) if p]
        while not all(port_open(p) for p in ports):
            if self.proc.poll() is not None:
                status, self.proc = self.proc.returncode, None
                raise ServerError(f"server exited with status {status} before listening; "
                                  f"log tail:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"server not listening on {ports} after {self.start_timeout}s; "
                                  f"log tail:\n{self.log_tail()}")
            time.sleep(0.1)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        # Wait until the port is really free, so a restart can bind it again.
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    @property
    def http_url(self):
        return f"http://127.0.0.1:{self.port}"


class Results:
    """PASS/FAIL lines and the closing `N passed, N failed` tally."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"  PASS  {name}", flush=True)
        else:
            self.failed += 1
            print(f"  FAIL  {name}", flush=True)
            for line in str(detail).rstrip().splitlines()[-20:]:
                print(f"        | {line}", flush=True)
        return ok

    def tally(self):
        return f"{self.passed} passed, {self.failed} failed"
