#!/usr/bin/env python3
"""wscat-style session against the echo endpoint with the `websockets` CLI.

Runs `python -m websockets URL` (the interactive client of the `websockets`
package), types two lines, checks that each comes back as `< LINE`, then ends
the session with EOF and checks the close. Done twice: once with plain pipes
(stdin/stdout not a terminal) and once under a pseudo-terminal with pexpect,
as a person at a terminal would. Started by ws_cli_test.sh, which starts the
server; run directly with --url against a server already running.

Exit status 0 only if every check passed; the last line is `N passed, N failed`.
"""
import argparse
import os
import re
import select
import subprocess
import sys
import time

LINES = ["hello perigee", "second line: h\u00e9llo w\u00f6rld \u2713 {\"k\": [1, 2]}"]
TIMEOUT = 10.0
ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[78])")


def clean(text):
    """Terminal output without the CLI's cursor-control escapes."""
    return ANSI.sub("", text).replace("\r", "")


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"  PASS  {name}")
        else:
            self.failed += 1
            print(f"  FAIL  {name}")
            if detail:
                for line in detail.rstrip().splitlines()[-15:]:
                    print(f"        | {line}")


def cli_argv(python, url):
    return [python, "-m", "websockets", url]


def child_env():
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    env.setdefault("TERM", "dumb")
    return env


def run_pipes(python, url, res):
    """stdin/stdout are pipes: no terminal at all."""
    print(f"[pipes] {' '.join(cli_argv(python, url))}")
    proc = subprocess.Popen(cli_argv(python, url), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=child_env())
    buf = b""

    def wait_for(pattern):
        """Read output until `pattern` (a substring of cleaned text) shows up."""
        nonlocal buf
        deadline = time.monotonic() + TIMEOUT
        while pattern not in clean(buf.decode("utf-8", "replace")):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:  # EOF: the CLI exited
                    return pattern in clean(buf.decode("utf-8", "replace"))
                buf += chunk
        return True

    def out():
        return clean(buf.decode("utf-8", "replace"))

    try:
        ok = wait_for("Connected to ")
        res.check("pipes: CLI connects", ok, out())
        if ok:
            for i, line in enumerate(LINES, 1):
                proc.stdin.write((line + "\n").encode("utf-8"))
                proc.stdin.flush()
                res.check(f"pipes: line {i} echoed back: {line!r}",
                          wait_for("< " + line + "\n"), out())
            proc.stdin.close()  # EOF, like ^D
            ok = wait_for("Connection closed: 1000")
            try:
                rc = proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                rc = None
            res.check("pipes: EOF closes the session cleanly (1000) and the CLI exits 0",
                      ok and rc == 0, out() + f"\n(exit status: {rc})")
        else:
            for i, line in enumerate(LINES, 1):
                res.check(f"pipes: line {i} echoed back: {line!r}", False, "not connected")
            res.check("pipes: EOF closes the session cleanly (1000) and the CLI exits 0",
                      False, "not connected")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_pty(python, url, res):
    """Under a pseudo-terminal, as typed by a person (pexpect)."""
    try:
        import pexpect
    except ImportError:
        res.check("pty: pexpect is importable", False,
                  "pexpect missing: run Tests/External/setup-venvs.sh and use .venv/bin/python")
        return
    argv = cli_argv(python, url)
    print(f"[pty]   {' '.join(argv)}")
    child = pexpect.spawn(argv[0], argv[1:], env=child_env(), encoding="utf-8",
                          timeout=TIMEOUT, dimensions=(24, 200))
    log = []
    child.logfile_read = type("L", (), {"write": lambda s, t: log.append(t),
                                        "flush": lambda s: None})()

    def out():
        return clean("".join(log))

    try:
        try:
            child.expect_exact("Connected to ")
            child.expect_exact("> ")
            connected = True
        except (pexpect.TIMEOUT, pexpect.EOF):
            connected = False
        res.check("pty: CLI connects and prompts", connected, out())
        for i, line in enumerate(LINES, 1):
            ok = False
            if connected:
                child.sendline(line)
                try:
                    # The terminal echoes what was typed; the server's echo is `< LINE`.
                    child.expect_exact("< " + line)
                    ok = True
                except (pexpect.TIMEOUT, pexpect.EOF):
                    pass
            res.check(f"pty: line {i} echoed back: {line!r}", ok, out())
        ok = False
        if connected:
            child.sendeof()  # ^D
            try:
                child.expect_exact("Connection closed: 1000")
                child.expect(pexpect.EOF)
                child.close()
                ok = child.exitstatus == 0
            except (pexpect.TIMEOUT, pexpect.EOF):
                pass
        res.check("pty: ^D closes the session cleanly (1000) and the CLI exits 0", ok,
                  out() + f"\n(exit status: {child.exitstatus})")
    finally:
        if child.isalive():
            child.terminate(force=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description="websockets CLI echo session test")
    ap.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/echo/websocket")
    ap.add_argument("--python", default=sys.executable,
                    help="Python with the websockets package (default: this one)")
    ap.add_argument("--mode", choices=["pipes", "pty", "both"], default="both")
    args = ap.parse_args(argv)

    res = Results()
    try:
        version = subprocess.run([args.python, "-m", "websockets", "--version"],
                                 capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as exc:  # noqa: BLE001
        version = f"unknown ({exc})"
    print(f"websockets CLI: {version}")
    if args.mode in ("pipes", "both"):
        run_pipes(args.python, args.url, res)
    if args.mode in ("pty", "both"):
        run_pty(args.python, args.url, res)
    print(f"{res.passed} passed, {res.failed} failed")
    return 0 if res.failed == 0 and res.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
