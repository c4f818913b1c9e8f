#!/usr/bin/env python3
"""Runs every benchmark scenario on Perigee and on the peers, and collects perigee-bench's JSON.

    bench/run.py --perigee .build/release/perigee --bench .build/release/perigee-bench [--quick]

Builds nothing. The peers must already run (bench/peers.sh run bench/run.py ... exports
NCHAN_PORT, NGINX_PIDS, RABBITMQ_STOMP_PORT, RABBITMQ_WEB_STOMP_PORT, RABBITMQ_PID,
PEERS_VERSIONS); a peer whose variables are missing is skipped and the report says so.
Perigee is started afresh for every run (bench/perigee.yaml, free loopback ports) so that
each run's RSS is its own.

Writes bench/results/<timestamp>.jsonl: a first line {"meta": {...}} (machine, versions,
commands), then one line per run: {"scenario", "variant", "server", "repeat", "command",
"exit_code", "wall_s", "result": <the tool's JSON object or null>, "error": <text or null>}.
Only the standard library is used.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import platform
import random
import resource
import shlex
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
NOFILE = 20000


@dataclass
class Variant:
    """One row of a scenario's table: the tool's arguments, the same for every server."""

    name: str
    mode: str
    args: list[str]
    servers: tuple[str, ...] = ("perigee", "nchan", "rabbitmq")
    # Arguments that differ per server (e.g. the fallback transport each one has).
    per_server: dict[str, list[str]] = field(default_factory=dict)
    # run.py's own limit; the tool gets --timeout 20 s less, so that it reports what it has.
    timeout_s: float = 300
    # Perigee's configuration for this variant (default: --config, bench/perigee.yaml).
    perigee_config: str | None = None


@dataclass
class Scenario:
    key: str
    title: str
    variants: list[Variant]


def ramp_for(subscribers: int, quick: bool) -> str:
    """Publish-rate ramps (START:FACTOR:MAX) that pass every server's failing point.

    Deliveries/s = publish rate x subscribers; the ramps span ~20k to ~500k deliveries/s
    (RabbitMQ fails near 25k, nchan and Perigee between 80k and 500k on this machine).
    """
    factor = 1.6 if quick else 1.4
    return {
        100: f"200:{factor}:5000",
        # From 5k deliveries/s: RabbitMQ fails its first step at 20k.
        1000: f"5:{factor}:500",
        10000: f"0.5:{factor}:50",
    }[subscribers]


def scenarios(quick: bool) -> list[Scenario]:
    step = ["--step-seconds", "2" if quick else "3"]
    fanout_sizes = [1000, 10000] if quick else [100, 1000, 10000]
    bodies = [64] if quick else [64, 1024]
    result: list[Scenario] = []

    variants = []
    for subs in fanout_sizes:
        # 1 KiB bodies at 1,000 subscribers only: the full set has to fit in ~40 minutes.
        for body in (bodies if subs == 1000 else [64]):
            for deflate in (False, True):
                if quick and deflate and subs != 1000:
                    continue
                # RabbitMQ takes ~30 s to accept 10,000 subscribers: full runs only.
                servers = ("perigee", "nchan") if quick and subs == 10000 else ("perigee", "nchan", "rabbitmq")
                args = ["--subscribers", str(subs), "--body-size", str(body),
                        "--ramp", ramp_for(subs, quick), *step, "--transport", "websocket"]
                if subs >= 10000:
                    # One message reaches 10,000 sockets in tens of ms even unloaded (the
                    # client alone reads them at ~7 us each): a 100 ms p99 bound fails every
                    # server at its first step. 500 ms keeps the ramp about throughput.
                    args += ["--p99-bound", "500"]
                if deflate:
                    args.append("--deflate")
                variants.append(Variant(
                    f"{subs} subs, {body} B, {'deflate' if deflate else 'no deflate'}",
                    "fanout", args, servers=servers))
    result.append(Scenario("a", "(a) Fan-out, one topic, WebSocket: highest sustained deliveries/s", variants))

    topics = 10000
    result.append(Scenario("b", f"(b) {topics:,} subscribers, each on its own topic, publishes at random", [
        Variant(f"{topics} subs, {topics} topics, 64 B", "fanout",
                ["--subscribers", str(topics), "--topics", str(topics), "--body-size", "64",
                 "--ramp", "2000:1.6:200000" if quick else "2000:1.4:200000", *step,
                 "--transport", "websocket", "--p99-bound", "500"],
                # RabbitMQ takes ~30 s to accept 10,000 subscribers: full runs only.
                servers=("perigee", "nchan") if quick else ("perigee", "nchan", "rabbitmq")),
    ]))

    idle_sizes = [19000] if quick else [1000, 19000]
    variants = []
    for conns in idle_sizes:
        for deflate in (False, True):
            args = ["--subscribers", str(conns), "--transport", "websocket",
                    "--hold-seconds", "8", "--connect-concurrency", "500"]  # past one memory trim (5 s)
            if conns > 10000:
                args += ["--processes", "2", "--source-addresses", "4"]
            if deflate:
                args.append("--deflate")
            # RabbitMQ needs ~100 s for 19,000 connections: full runs only, and with deflate
            # only at 1,000 (the full set has to fit in ~40 minutes).
            if quick or (deflate and conns > 1000):
                servers = ("perigee", "nchan")
            else:
                servers = ("perigee", "nchan", "rabbitmq")
            variants.append(Variant(f"{conns} connections, {'deflate' if deflate else 'no deflate'}",
                                    "idle", args, servers=servers, timeout_s=600))
    result.append(Scenario("c", "(c) Idle WebSocket connections in one server process: RSS per connection", variants))

    result.append(Scenario("d", "(d) Connect storm: WebSocket handshake + STOMP CONNECT + SUBSCRIBE", [
        Variant("5000 connections", "connect",
                ["--subscribers", "5000", "--transport", "websocket", "--connect-concurrency", "1000"]),
    ]))

    # nchan has no xhr-streaming: Perigee's xhr-streaming is set against nchan's eventsource.
    fallback_subs = "1000"
    fallback_ramp = ["--ramp", ramp_for(1000, quick), *step, "--body-size", "64",
                     "--subscribers", fallback_subs]
    result.append(Scenario("e", "(e) Fallback transports, 1,000 subscribers, one topic, 64 B", [
        Variant("xhr-streaming (nchan: eventsource)", "fanout", fallback_ramp,
                servers=("perigee", "nchan"),
                per_server={"perigee": ["--transport", "xhr-streaming"],
                            "nchan": ["--transport", "eventsource"]}),
        Variant("eventsource", "fanout", fallback_ramp + ["--transport", "eventsource"],
                servers=("perigee", "nchan")),
        Variant("long-poll (xhr-polling; nchan longpoll)", "fanout",
                fallback_ramp + ["--transport", "xhr-polling"], servers=("perigee", "nchan")),
    ]))

    # Publishes accepted, not fan-out: no subscribers, so that every server only takes them in.
    ingest = ["--subscribers", "0", "--publishers", "4", "--duration", "5" if quick else "10", "--body-size", "64"]
    result.append(Scenario("f", "(f) Ingest: publishes/s accepted", [
        Variant("HTTP publish API", "ingest", ingest + ["--publish-via", "http"],
                servers=("perigee", "nchan")),
        Variant("STOMP over TCP", "ingest", ingest + ["--publish-via", "tcp"],
                servers=("perigee", "rabbitmq")),
    ]))

    result.append(Scenario("p99", "Publish-to-delivery latency, 1,000 subscribers x 100 msg/s, 64 B", [
        Variant("1000 subs x 100 msg/s", "fanout",
                ["--subscribers", "1000", "--rate", "100", "--duration", "5" if quick else "10",
                 "--body-size", "64", "--transport", "websocket"]),
    ]))

    # Issue 11: what keeping history costs. The same fan-out and latency runs on Perigee alone,
    # with the topic's history off (bench/perigee.yaml) and on (bench/perigee-history.yaml:
    # 1,000 messages per topic kept for 300 s, every published message retained).
    history_config = str(BENCH_DIR / "perigee-history.yaml")
    fanout_1000 = ["--subscribers", "1000", "--body-size", "64", "--ramp", ramp_for(1000, quick), *step,
                   "--transport", "websocket"]
    latency_1000 = ["--subscribers", "1000", "--rate", "100", "--duration", "5" if quick else "10",
                    "--body-size", "64", "--transport", "websocket"]
    result.append(Scenario("h", "(h) History kept vs not: fan-out, 1,000 subscribers, one topic, 64 B", [
        Variant("history off", "fanout", fanout_1000, servers=("perigee",)),
        Variant("history on (1,000 kept)", "fanout", fanout_1000, servers=("perigee",), perigee_config=history_config),
    ]))
    result.append(Scenario("hl", "(h) History kept vs not: latency, 1,000 subscribers x 100 msg/s, 64 B", [
        Variant("history off", "fanout", latency_1000, servers=("perigee",)),
        Variant("history on (1,000 kept)", "fanout", latency_1000, servers=("perigee",), perigee_config=history_config),
    ]))
    return result


def free_port() -> int:
    """A free port below the ephemeral range (32768-60999 here): an ephemeral port that is free
    now may be taken by one of the load client's own connections before Perigee binds it."""
    while True:
        port = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Perigee:
    """A fresh Perigee process on free loopback ports."""

    def __init__(self, binary: str, config: Path, log_path: Path):
        for attempt in range(5):
            try:
                self._start(binary, config, log_path)
                return
            except RuntimeError:
                if attempt == 4:
                    raise

    def _start(self, binary: str, config: Path, log_path: Path) -> None:
        self.port = free_port()
        self.stomp_port = free_port()
        self.command = [binary, "--host", "127.0.0.1", "--port", str(self.port),
                        "--stomp-port", str(self.stomp_port), "--config", str(config)]
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(self.command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not (port_open(self.port) and port_open(self.stomp_port)):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"perigee did not start (exit {self.process.poll()}); see {log_path}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def server_args(server: str, perigee: Perigee | None) -> list[str]:
    env = os.environ
    if server == "perigee":
        assert perigee is not None
        return ["--server", "perigee", "--host", "127.0.0.1", "--port", str(perigee.port),
                "--stomp-port", str(perigee.stomp_port), "--server-pid", str(perigee.process.pid)]
    if server == "nchan":
        return ["--server", "nchan", "--host", "127.0.0.1", "--port", env["NCHAN_PORT"],
                "--server-pid", env["NGINX_PIDS"]]
    if server == "rabbitmq":
        return ["--server", "rabbitmq", "--host", "127.0.0.1", "--port", env["RABBITMQ_WEB_STOMP_PORT"],
                "--stomp-port", env["RABBITMQ_STOMP_PORT"], "--server-pid", env["RABBITMQ_PID"]]
    raise ValueError(server)


def peer_available(server: str) -> bool:
    needed = {"perigee": [], "nchan": ["NCHAN_PORT", "NGINX_PIDS"],
              "rabbitmq": ["RABBITMQ_WEB_STOMP_PORT", "RABBITMQ_STOMP_PORT", "RABBITMQ_PID"]}[server]
    return all(os.environ.get(name) for name in needed)


def rss_kib(pids: list[int]) -> int | None:
    """Resident set size of the server's processes together (VmRSS from /proc), KiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            return None
    return total


class RSSSampler:
    """Samples the server's RSS every 0.2 s while the tool runs: before, peak and last value.

    The harness's own measurement, next to the tool's server_rss_kib_* (for the idle runs the
    peak is the RSS with every connection open)."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.before = rss_kib(pids)
        self.peak = self.before or 0
        self.last = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            value = rss_kib(self.pids)
            if value is not None:
                self.last = value
                self.peak = max(self.peak, value)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"rss_kib_before": self.before, "rss_kib_peak": self.peak, "rss_kib_last": self.last}


def server_pids(server: str, perigee: Perigee | None) -> list[int]:
    if server == "perigee":
        return [perigee.process.pid] if perigee else []
    value = os.environ.get("NGINX_PIDS" if server == "nchan" else "RABBITMQ_PID", "")
    return [int(pid) for pid in value.split(",") if pid.strip().isdigit()]


def last_json_line(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith('{"tool":"perigee-bench"') or line.startswith('{"tool": "perigee-bench"'):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def deflate_offer(port: int, path: str, protocol: str | None) -> str:
    """What a server answers to a permessage-deflate offer (RFC 7692), read off the handshake."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
    if protocol:
        request += f"Sec-WebSocket-Protocol: {protocol}\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            s.sendall((request + "\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
    except OSError as error:
        return f"no answer ({error})"
    lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    status = lines[0] if lines else "no answer"
    extensions = [line.split(":", 1)[1].strip() for line in lines[1:]
                  if line.lower().startswith("sec-websocket-extensions:")]
    return f"{status}; Sec-WebSocket-Extensions: {', '.join(extensions) or '(none)'}"


def text_of(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return f"unavailable ({error})"


def machine_info(args) -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "kernel": platform.release(),
        "os": text_of(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "swift": text_of(["swift", "--version"]).splitlines()[0] if text_of(["swift", "--version"]) else "unknown",
        "peers": os.environ.get("PEERS_VERSIONS", "peers not started"),
        "perigee_commit": text_of(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"]),
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--perigee", required=True, help="the perigee release binary")
    parser.add_argument("--bench", required=True, help="the perigee-bench release binary")
    parser.add_argument("--quick", action="store_true", help="fewer sizes, 1 repeat, short steps")
    parser.add_argument("--repeats", type=int, help="runs of each variant per server (default 3, quick 1)")
    parser.add_argument("--only", help="comma-separated scenario keys (a,b,c,d,e,f,p99,h,hl)")
    parser.add_argument("--config", default=str(BENCH_DIR / "perigee.yaml"))
    parser.add_argument("--out", help="JSONL path (default bench/results/<timestamp>.jsonl)")
    args = parser.parse_args()

    for path in (args.perigee, args.bench):
        if not os.access(path, os.X_OK):
            print(f"run.py: {path} is not an executable; build it first (make bench does)", file=sys.stderr)
            return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(NOFILE, hard), hard))

    repeats = args.repeats or (1 if args.quick else 3)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else BENCH_DIR / "results" / f"{stamp}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    log_dir = out.with_suffix("")
    log_dir.mkdir(parents=True, exist_ok=True)

    chosen = scenarios(args.quick)
    if args.only:
        keys = set(args.only.split(","))
        chosen = [s for s in chosen if s.key in keys]

    missing = [s for s in ("nchan", "rabbitmq") if not peer_available(s)]
    for server in missing:
        print(f"run.py: {server} is not running (start it with bench/peers.sh); its runs are skipped", file=sys.stderr)

    # Which permessage-deflate parameters each server agrees to, from a handshake of our own.
    negotiation = {}
    probe_log = log_dir / "perigee-probe.log"
    probe = Perigee(args.perigee, Path(args.config), probe_log)
    try:
        negotiation["perigee"] = deflate_offer(probe.port, "/stomp", "v12.stomp")
    finally:
        probe.stop()
    if "nchan" not in missing:
        negotiation["nchan"] = deflate_offer(int(os.environ["NCHAN_PORT"]), "/sub/probe", None)
    if "rabbitmq" not in missing:
        negotiation["rabbitmq"] = deflate_offer(int(os.environ["RABBITMQ_WEB_STOMP_PORT"]), "/ws", "v12.stomp")

    meta = machine_info(args)
    meta.update({
        "started": stamp, "quick": args.quick, "repeats": repeats,
        "perigee_command": f"{args.perigee} --host 127.0.0.1 --port <free> --stomp-port <free> --config {os.path.relpath(args.config, REPO)}",
        "bench_binary": args.bench,
        "skipped_servers": missing,
        "deflate_negotiation": negotiation,
        "scenarios": [{"key": s.key, "title": s.title, "variants": [v.name for v in s.variants]} for s in chosen],
    })

    started = time.monotonic()
    failures = 0
    with open(out, "w") as sink:
        sink.write(json.dumps({"meta": meta}) + "\n")
        sink.flush()
        for scenario in chosen:
            for variant in scenario.variants:
                for server in variant.servers:
                    if server in missing:
                        continue
                    for repeat in range(repeats):
                        record = run_one(args, scenario, variant, server, repeat, log_dir)
                        failures += record["error"] is not None
                        sink.write(json.dumps(record) + "\n")
                        sink.flush()
                        time.sleep(1)  # let the previous run's sockets close
        total = time.monotonic() - started
        sink.write(json.dumps({"summary": {"total_s": round(total, 1), "failed_runs": failures}}) + "\n")
    print(f"run.py: {out} ({total:.0f} s, {failures} runs without a result)", file=sys.stderr)
    return 0


def run_one(args, scenario: Scenario, variant: Variant, server: str, repeat: int, log_dir: Path) -> dict:
    label = f"{scenario.key} | {variant.name} | {server} | #{repeat + 1}"
    record = {"scenario": scenario.key, "variant": variant.name, "server": server, "repeat": repeat,
              "command": None, "exit_code": None, "harness": None, "wall_s": None, "result": None, "error": None}
    perigee = None
    slug = f"{scenario.key}-{''.join(c if c.isalnum() else '_' for c in variant.name)}-{server}-{repeat}"
    try:
        if server == "perigee":
            perigee = Perigee(args.perigee, Path(variant.perigee_config or args.config), log_dir / f"{slug}.perigee.log")
        command = [args.bench, variant.mode, *server_args(server, perigee),
                   *variant.args, *variant.per_server.get(server, []),
                   "--timeout", str(int(variant.timeout_s - 20)), "--json"]
        record["command"] = shlex.join(command)
        print(f"[run] {label}: {record['command']}", file=sys.stderr, flush=True)
        sampler = RSSSampler(server_pids(server, perigee))
        begun = time.monotonic()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=variant.timeout_s)
            record["exit_code"] = done.returncode
            stdout, stderr = done.stdout, done.stderr
        except subprocess.TimeoutExpired as expired:
            record["error"] = f"timed out after {variant.timeout_s:.0f} s"
            stdout = expired.stdout.decode() if isinstance(expired.stdout, bytes) else (expired.stdout or "")
            stderr = expired.stderr.decode() if isinstance(expired.stderr, bytes) else (expired.stderr or "")
        record["wall_s"] = round(time.monotonic() - begun, 2)
        record["harness"] = sampler.stop()
        (log_dir / f"{slug}.tool.log").write_text(f"$ {record['command']}\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
        record["result"] = last_json_line(stdout)
        if record["result"] is None and record["error"] is None:
            tail = " / ".join(stderr.strip().splitlines()[-3:])
            record["error"] = f"no JSON result (exit {record['exit_code']}): {tail[:400]}"
        if perigee is not None and not perigee.alive():
            record["error"] = (record["error"] or "") + f" perigee exited with {perigee.process.returncode}"
    except Exception as error:  # a failed run is recorded, never the end of the whole benchmark
        record["error"] = f"{type(error).__name__}: {error}"
    finally:
        if perigee is not None:
            perigee.stop()
    summary = record["error"] or summarize(record["result"])
    print(f"[run] {label}: {summary} ({record['wall_s']} s)", file=sys.stderr, flush=True)
    return record


def summarize(result: dict | None) -> str:
    if not result:
        return "no result"
    keys = ("max_sustained_deliveries_per_s", "rss_per_connection_kib", "connect_s",
            "publishes_accepted_per_s", "connect_errors", "ok")
    return ", ".join(f"{k}={result.get(k)}" for k in keys if result.get(k) is not None)


if __name__ == "__main__":
    sys.exit(main())
