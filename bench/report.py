#!/usr/bin/env python3
"""Turns one bench/run.py JSONL file into BENCHMARKS.md and PNG plots in bench/plots/.

    .venv-bench/bin/python bench/report.py bench/results/<timestamp>.jsonl [--out BENCHMARKS.md]

Without a path, the newest file in bench/results/ is used. Needs matplotlib (make bench puts
it in .venv-bench). Every table cell is the median of the repeated runs with their spread
(min–max); ratios are Perigee ÷ peer of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SERVERS = ("perigee", "nchan", "rabbitmq")
NAMES = {"perigee": "Perigee", "nchan": "nginx + nchan", "rabbitmq": "RabbitMQ Web-STOMP"}
SHORT = {"perigee": "Perigee", "nchan": "nchan", "rabbitmq": "RabbitMQ"}
COLORS = {"perigee": "tab:blue", "nchan": "tab:green", "rabbitmq": "tab:orange"}


def load(path: Path):
    meta, summary, records = {}, {}, []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        if "meta" in item:
            meta = item["meta"]
        elif "summary" in item:
            summary = item["summary"]
        else:
            # The harness's own RSS samples travel with the tool's result.
            if item.get("result") is not None:
                item["result"]["_harness"] = item.get("harness")
            records.append(item)
    return meta, summary, records


# ---- what one run measured ------------------------------------------------------------------

def passed_steps(result: dict) -> list[dict]:
    return [s for s in result.get("steps") or [] if s.get("passed")]


def top_step(result: dict) -> dict | None:
    """The highest step the server sustained (the one max_sustained_deliveries_per_s comes from)."""
    steps = passed_steps(result)
    return max(steps, key=lambda s: s.get("deliveries_per_s") or 0) if steps else None


def sustained(result: dict) -> float | None:
    value = result.get("max_sustained_deliveries_per_s")
    if value is None and top_step(result):
        value = top_step(result).get("deliveries_per_s")
    return value


def p99_at_top(result: dict) -> float | None:
    step = top_step(result)
    return (step.get("latency_ms") or {}).get("p99") if step else None


def lost_total(result: dict) -> int:
    return sum((s.get("lost") or 0) for s in result.get("steps") or [])


def lost_in_passed(result: dict) -> int:
    return sum((s.get("lost") or 0) for s in passed_steps(result))


def first_step_latency(result: dict, key: str) -> float | None:
    steps = result.get("steps") or []
    return (steps[0].get("latency_ms") or {}).get(key) if steps else None


def connections_held(result: dict) -> int | None:
    if result.get("subscribed") is not None:
        return result["subscribed"]
    subs = result.get("subscribers")
    return None if subs is None else subs - (result.get("connect_errors") or 0)


def rss_after(result: dict) -> float | None:
    """Server RSS with the connections open: the tool's value, else the harness's peak sample."""
    if result.get("server_rss_kib_after") is not None:
        return result["server_rss_kib_after"]
    return (result.get("_harness") or {}).get("rss_kib_peak")


def rss_per_connection(result: dict) -> float | None:
    if result.get("rss_per_connection_kib") is not None:
        return result["rss_per_connection_kib"]
    harness = result.get("_harness") or {}
    held = connections_held(result)
    if harness.get("rss_kib_before") is None or not harness.get("rss_kib_peak") or not held:
        return None
    return (harness["rss_kib_peak"] - harness["rss_kib_before"]) / held


# Scenario key -> [(column title, function of a result, higher is better, format)]
METRICS = {
    "a": [("deliveries/s sustained", sustained, True, "{:,.0f}"),
          ("p99 ms at that rate", p99_at_top, False, "{:.1f}")],
    "b": [("deliveries/s sustained", sustained, True, "{:,.0f}"),
          ("p99 ms at that rate", p99_at_top, False, "{:.1f}")],
    "e": [("deliveries/s sustained", sustained, True, "{:,.0f}"),
          ("p99 ms at that rate", p99_at_top, False, "{:.1f}")],
    "c": [("KiB per connection", rss_per_connection, False, "{:.2f}"),
          ("server RSS with the connections open, MiB", lambda r: (rss_after(r) or 0) / 1024 or None, False, "{:,.0f}"),
          ("connections held", connections_held, True, "{:,.0f}"),
          ("connect errors", lambda r: r.get("connect_errors"), False, "{:,.0f}")],
    "d": [("seconds to connect + subscribe", lambda r: r.get("connect_s"), False, "{:.3f}"),
          ("connections/s", lambda r: r.get("connections_per_s"), True, "{:,.0f}"),
          ("connect errors", lambda r: r.get("connect_errors"), False, "{:,.0f}")],
    "f": [("publishes/s accepted", lambda r: r.get("publishes_accepted_per_s"), True, "{:,.0f}")],
    "h": [("deliveries/s sustained", sustained, True, "{:,.0f}"),
          ("p99 ms at that rate", p99_at_top, False, "{:.1f}")],
    "hl": [("p50 ms", lambda r: first_step_latency(r, "p50"), False, "{:.2f}"),
           ("p99 ms", lambda r: first_step_latency(r, "p99"), False, "{:.2f}"),
           ("lost", lost_total, False, "{:,.0f}")],
    "p99": [("p50 ms", lambda r: first_step_latency(r, "p50"), False, "{:.2f}"),
            ("p99 ms", lambda r: first_step_latency(r, "p99"), False, "{:.2f}"),
            ("lost", lost_total, False, "{:,.0f}")],
}


class Cell:
    """The repeated runs of one (variant, server): their values for one metric and the errors."""

    def __init__(self, records: list[dict], metric):
        self.values = []
        self.errors = []
        for record in records:
            value = metric(record["result"]) if record.get("result") else None
            if value is not None:
                self.values.append(float(value))
            if record.get("error"):
                self.errors.append(record["error"])
        self.runs = len(records)

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None

    def text(self, fmt: str) -> str:
        if not self.values:
            return "failed" if self.errors else "—"
        med = fmt.format(self.median)
        if len(self.values) > 1:
            med += f" ({fmt.format(min(self.values))}–{fmt.format(max(self.values))})"
        if self.errors:
            med += f" ⚠{len(self.errors)}"
        return med


def times(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "∞×"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}×"


# ---- the report ------------------------------------------------------------------------------

def grouped(records):
    by = defaultdict(list)
    for record in records:
        by[(record["scenario"], record["variant"], record["server"])].append(record)
    return by


def scenario_table(scenario: dict, by, lines: list[str]) -> None:
    key = scenario["key"]
    servers = [s for s in SERVERS if any((key, v, s) in by for v in scenario["variants"])]
    peers = [s for s in servers if s != "perigee"]
    for title, metric, higher, fmt in METRICS.get(key, []):
        head = ["variant"] + [NAMES[s] for s in servers] + [f"Perigee ÷ {SHORT[p]}" for p in peers if "perigee" in servers]
        lines.append(f"**{title}** ({'higher' if higher else 'lower'} is better)")
        lines.append("")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for variant in scenario["variants"]:
            cells = {s: Cell(by.get((key, variant, s), []), metric) for s in servers}
            row = [variant] + [cells[s].text(fmt) if (key, variant, s) in by else "not run" for s in servers]
            if "perigee" in servers:
                row += [ratio(cells["perigee"].median, cells[p].median) for p in peers]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")


def history_ratios(scenario: dict, by, lines: list[str]) -> None:
    """One line per metric: history on ÷ history off, of the medians."""
    key = scenario["key"]
    off, on = scenario["variants"][0], scenario["variants"][1] if len(scenario["variants"]) > 1 else None
    if on is None:
        return
    parts = []
    for title, metric, _, _ in METRICS.get(key, []):
        if title == "lost":
            continue
        a = Cell(by.get((key, on, "perigee"), []), metric).median
        b = Cell(by.get((key, off, "perigee"), []), metric).median
        parts.append(f"{title}: {ratio(a, b)}")
    lines += [f"History on ÷ off: {'; '.join(parts)}.", ""]


def find_median_run(records: list[dict], metric) -> dict | None:
    scored = [(metric(r["result"]), r) for r in records if r.get("result") and metric(r["result"]) is not None]
    if not scored:
        return next((r for r in records if r.get("result")), None)
    scored.sort(key=lambda pair: pair[0])
    return scored[(len(scored) - 1) // 2][1]


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-").replace("--", "-")


def plots(meta: dict, by, plot_dir: Path) -> list[tuple[str, str]]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for scenario in meta.get("scenarios", []):
        key = scenario["key"]
        if key not in ("a", "b", "e"):
            continue
        for variant in scenario["variants"]:
            fig, ax = plt.subplots(figsize=(7, 4.2))
            drawn = False
            for server in SERVERS:
                run = find_median_run(by.get((key, variant, server), []), sustained)
                if not run:
                    continue
                result = run["result"]
                per_publish = (result.get("subscribers") or 1) / max(result.get("topics") or 1, 1)
                xs, p50, p99 = [], [], []
                for step in result.get("steps") or []:
                    latency = step.get("latency_ms") or {}
                    if latency.get("p99") is None:
                        continue
                    xs.append((step.get("offered_rate") or 0) * per_publish)
                    p50.append(latency.get("p50"))
                    p99.append(latency.get("p99"))
                if not xs:
                    continue
                ax.plot(xs, p99, "-o", color=COLORS[server], label=f"{SHORT[server]} p99", markersize=4)
                ax.plot(xs, p50, "--", color=COLORS[server], label=f"{SHORT[server]} p50", alpha=0.7)
                drawn = True
            if not drawn:
                plt.close(fig)
                continue
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("offered deliveries/s (publish rate × subscribers per topic)")
            ax.set_ylabel("publish-to-delivery latency, ms")
            ax.set_title(f"({key}) {variant}", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            name = f"latency-{key}-{slug(variant)}.png"
            fig.tight_layout()
            fig.savefig(plot_dir / name, dpi=90)
            plt.close(fig)
            made.append((name, f"({key}) {variant}: latency p50/p99 against offered rate"))

    idle = next((s for s in meta.get("scenarios", []) if s["key"] == "c"), None)
    if idle:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        drawn = False
        for server in SERVERS:
            for deflate in (False, True):
                points = []
                for variant in idle["variants"]:
                    if ("no deflate" in variant) == deflate:
                        continue
                    run = find_median_run(by.get(("c", variant, server), []),
                                          rss_per_connection)
                    if not run or rss_after(run["result"]) is None:
                        continue
                    result = run["result"]
                    points.append((connections_held(result) or 0, rss_after(result) / 1024))
                if not points:
                    continue
                points.sort()
                ax.plot([p[0] for p in points], [p[1] for p in points], "-o" if not deflate else "--s",
                        color=COLORS[server], label=f"{SHORT[server]}{' deflate' if deflate else ''}")
                drawn = True
        if drawn:
            ax.set_xlabel("idle WebSocket connections (subscribed)")
            ax.set_ylabel("server RSS, MiB")
            ax.set_yscale("log")
            ax.set_title("RSS against connections", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(plot_dir / "rss-vs-connections.png", dpi=90)
            made.append(("rss-vs-connections.png", "(c) server RSS against idle connections"))
        plt.close(fig)
    return made


def targets(by) -> list[tuple[str, bool | None, str]]:
    """Each target of issue 8: (target, met — None when it could not be measured, measured values)."""
    out = []

    def med(key, variant, server, metric):
        records = by.get((key, variant, server), [])
        return Cell(records, metric).median if records else None

    v1000 = "1000 subs, 64 B, no deflate"
    perigee, nchan, rabbit = (med("a", v1000, s, sustained) for s in SERVERS)
    lost = sum(lost_in_passed(r["result"]) for r in by.get(("a", v1000, "perigee"), []) if r.get("result"))
    p99_lost = sum(lost_total(r["result"]) for r in by.get(("p99", "1000 subs x 100 msg/s", "perigee"), []) if r.get("result"))
    if perigee is None or nchan is None or rabbit is None:
        out.append(("Fan-out, 1,000 subs, 64 B: ≥ 1.5× nchan, ≥ 10× RabbitMQ, zero loss", None,
                    f"not measured (Perigee {perigee}, nchan {nchan}, RabbitMQ {rabbit})"))
    else:
        met = perigee >= 1.5 * nchan and perigee >= 10 * rabbit and lost == 0 and p99_lost == 0
        out.append(("Fan-out, 1,000 subs, 64 B: ≥ 1.5× nchan, ≥ 10× RabbitMQ, zero loss", met,
                    f"Perigee {perigee:,.0f}/s = {times(perigee, nchan)} nchan ({nchan:,.0f}/s), "
                    f"{times(perigee, rabbit)} RabbitMQ ({rabbit:,.0f}/s); lost at sustained steps {lost}, "
                    f"in the 100 msg/s run {p99_lost}"))

    v10k = "10000 subs, 64 B, no deflate"
    perigee, nchan = med("a", v10k, "perigee", sustained), med("a", v10k, "nchan", sustained)
    out.append(("Fan-out, 10,000 subs, 64 B: ≥ nchan",
                None if perigee is None or nchan is None or (perigee == 0 and nchan == 0) else perigee >= nchan,
                "not measured" if perigee is None or nchan is None else
                f"Perigee {perigee:,.0f}/s, nchan {nchan:,.0f}/s ({times(perigee, nchan)})"))

    p99 = med("p99", "1000 subs x 100 msg/s", "perigee", lambda r: first_step_latency(r, "p99"))
    out.append(("p99 publish-to-delivery at 1,000 subs × 100 msg/s ≤ 5 ms",
                None if p99 is None else p99 <= 5.0,
                "not measured" if p99 is None else f"{p99:.2f} ms"))

    for deflate, bound in ((False, 4.0), (True, 6.0)):
        variants = sorted({v for (k, v, s) in by if k == "c" and s == "perigee" and ("no deflate" in v) != deflate},
                          key=lambda v: int(v.split()[0]))
        label = f"RSS per idle WebSocket connection{' with deflate' if deflate else ''} ≤ {bound:.0f} KiB"
        if not variants:
            out.append((label, None, "not measured"))
            continue
        variant = variants[-1]
        kib = med("c", variant, "perigee", rss_per_connection)
        out.append((label, None if kib is None else kib <= bound,
                    "not measured" if kib is None else f"{kib:.2f} KiB at {variant}"))

    seconds = med("d", "5000 connections", "perigee", lambda r: r.get("connect_s"))
    errors = med("d", "5000 connections", "perigee", lambda r: r.get("connect_errors"))
    out.append(("5,000 connections connected and subscribed in < 0.3 s",
                None if seconds is None else seconds < 0.3 and not errors,
                "not measured" if seconds is None else f"{seconds:.3f} s, {errors or 0:.0f} errors"))

    runs = [r for (k, v, s), rs in by.items() if k == "c" and s == "perigee" and v.startswith("19000") for r in rs]
    if not runs:
        out.append(("19,000 concurrent connections in one process, zero errors", None, "not measured"))
    else:
        held = [connections_held(r["result"]) if r.get("result") else None for r in runs]
        errors = [r["result"].get("connect_errors") if r.get("result") else None for r in runs]
        met = all(h == 19000 for h in held) and all(e == 0 for e in errors) and not any(r.get("error") for r in runs)
        out.append(("19,000 concurrent connections in one process, zero errors", met,
                    f"held {held}, connect errors {errors} over {len(runs)} runs"))

    pairs = [("xhr-streaming (nchan: eventsource)", "xhr-streaming vs nchan eventsource"),
             ("eventsource", "eventsource"), ("long-poll (xhr-polling; nchan longpoll)", "long-poll")]
    for variant, label in pairs:
        perigee, nchan = med("e", variant, "perigee", sustained), med("e", variant, "nchan", sustained)
        out.append((f"Fallback fan-out ≥ nchan: {label}",
                    None if perigee is None or nchan is None or (perigee == 0 and nchan == 0) else perigee >= nchan,
                    "not measured" if perigee is None or nchan is None else
                    f"Perigee {perigee:,.0f}/s, nchan {nchan:,.0f}/s ({times(perigee, nchan)})"))
    return out


def render(path: Path, meta: dict, summary: dict, records: list[dict], made: list, by) -> str:
    lines: list[str] = []
    mode = "QUICK" if meta.get("quick") else "full"
    # REPEATS is shown when it differs from the set's default (3, QUICK 1).
    default_repeats = 1 if meta.get("quick") else 3
    repeats = meta.get("repeats") or default_repeats
    repeats_make = f" REPEATS={repeats}" if repeats != default_repeats else ""
    repeats_flag = f" --repeats {repeats}" if repeats != default_repeats else ""
    lines += [
        "# Benchmarks",
        "",
        f"Generated by `make bench{' QUICK=1' if meta.get('quick') else ''}` ({mode} set, "
        f"{meta.get('repeats')} run{'s' if meta.get('repeats', 1) > 1 else ''} of each variant per server) "
        f"on {meta.get('started')}, from `{os.path.relpath(path, REPO)}` by `bench/report.py`. "
        f"The whole run took {summary.get('total_s', '?')} s; runs without a result: {summary.get('failed_runs', '?')}.",
        "",
        "Each cell is the median of the repeated runs with their spread (min–max); ⚠n marks n runs that "
        "reported an error (see the run log). Ratios are Perigee ÷ peer of the medians.",
        "",
        "## Machine",
        "",
        f"- {meta.get('cores')} cores, {meta.get('cpu_model')}, {meta.get('memory')} RAM; {meta.get('os')}, "
        f"kernel {meta.get('kernel')}; open files per process {meta.get('nofile')}",
        f"- {meta.get('swift')}",
        f"- Peers: {meta.get('peers')}",
        f"- Perigee at `{meta.get('perigee_commit')}`; load client `perigee-bench` ({meta.get('bench_binary')})",
        "- Client and server share the 2 cores (everything on 127.0.0.1). nginx runs `worker_processes 1` "
        "(the issue's measurement: one nginx worker); Perigee uses its default event loops (one per core); "
        "RabbitMQ uses its default schedulers.",
        "",
        "## Commands",
        "",
        "```",
        f"make bench{' QUICK=1' if meta.get('quick') else ''}{repeats_make}",
        "# which runs:",
        "bench/peers.sh run bench/run.py --perigee .build/release/perigee --bench .build/release/perigee-bench"
        + (" --quick" if meta.get("quick") else "") + repeats_flag,
        f"# Perigee, started afresh for every run: {meta.get('perigee_command')}",
        "# nginx: nginx -p $TMP -c $TMP/nginx.conf (from bench/nginx.conf.in), 127.0.0.1:18080",
        "# RabbitMQ: /usr/lib/rabbitmq/bin/rabbitmq-server with bench/rabbitmq.conf, node perigee-bench@localhost",
        f"{os.path.relpath(BENCH_DIR, REPO)}/report.py {os.path.relpath(path, REPO)}",
        "```",
        "",
        "Every load-client command is listed under [Runs](#runs).",
        "",
    ]
    lines += ["## Read with care", "",
              "Load client, servers and peers share the machine's cores. For reference, a neutral C epoll "
              "client measured on this machine kind (1,000 WebSocket subscribers, 64 B) got nchan ~157–170k "
              "deliveries/s, Perigee 80–93k/s, RabbitMQ 20–30k/s (/work/shared/NOTES.md). Where this run's "
              "figures sit far below those for every server alike, the load client is the bottleneck (its "
              "`client_cpu_pct` per step is in the JSONL), not the server. A step fails on any loss or "
              "reordering, or when its p99 exceeds the tool's `--p99-bound` (100 ms).", ""]
    skipped = meta.get("skipped_servers") or []
    if skipped:
        lines += [f"**Not run:** {', '.join(skipped)} (not started).", ""]

    lines += ["## Targets", "", "| target | result | measured |", "|---|---|---|"]
    for label, met, measured in targets(by):
        verdict = "**met**" if met else ("not measured" if met is None else "**not met**")
        lines.append(f"| {label} | {verdict} | {measured} |")
    lines.append("")

    # Hand-written: what profiling found and why a target is missed (bench/findings.md).
    findings = BENCH_DIR / "findings.md"
    if findings.exists():
        lines += [findings.read_text().rstrip(), ""]

    lines += ["## permessage-deflate", "",
              "Each server's answer to `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits` "
              "(a handshake of run.py's own; cowboy in RabbitMQ has `web_stomp.ws_opts.compress = true`, nchan "
              "`nchan_deflate_message_for_websocket on`):", ""]
    for server, answer in (meta.get("deflate_negotiation") or {}).items():
        lines.append(f"- {NAMES[server]}: `{answer}`")
    lines.append("")

    titles = {s["key"]: s for s in meta.get("scenarios", [])}
    for scenario in meta.get("scenarios", []):
        lines += [f"## {scenario['title']}", ""]
        if scenario["key"] == "e":
            lines += ["nchan has no xhr-streaming transport: Perigee's xhr-streaming is set against nchan's "
                      "eventsource. Perigee's fallbacks are SockJS (`/stomp/<server>/<session>/...`) carrying "
                      "STOMP; nchan's carry raw messages.", ""]
        if scenario["key"] == "c":
            lines += ["RSS per connection = (server RSS with the connections open − RSS before) ÷ connections "
                      "held; nginx counts master + worker, RabbitMQ the beam.smp process. When the tool reports "
                      "no RSS (`server_rss_kib_*` null), the harness's own samples of VmRSS every 0.2 s during "
                      "the run are used (peak − before). The peers run for the whole benchmark, so their \"before\" "
                      "includes memory kept from earlier scenarios and their per-connection figure can read low; "
                      "Perigee starts afresh for every run.", ""]
        if scenario["key"] in ("h", "hl"):
            lines += ["Perigee alone, the same load with the topic's history off (`bench/perigee.yaml`) and on "
                      "(`bench/perigee-history.yaml`: `channels: \"/topic/**\": {history: 1000, history_ttl_s: 300}`, "
                      "so every published message is also retained at the topic's owner shard).", ""]
        scenario_table(scenario, by, lines)
        if scenario["key"] in ("h", "hl"):
            history_ratios(scenario, by, lines)
        pics = [(n, c) for n, c in made if n.startswith(f"latency-{scenario['key']}-")
                or (scenario["key"] == "c" and n.startswith("rss-"))]
        for name, caption in pics:
            lines += [f"![{caption}](bench/plots/{name})", ""]

    errors = [r for r in records if r.get("error")]
    if errors:
        lines += ["## Failures", "", "Runs that ended without a result or with an error, as recorded:", ""]
        for record in errors:
            lines.append(f"- ({record['scenario']}) {record['variant']}, {NAMES.get(record['server'], record['server'])}, "
                         f"run {record['repeat'] + 1}: {record['error']}")
        lines.append("")

    lines += ["## Runs", "", "<details><summary>Every load-client command, with its wall time</summary>", "", "```"]
    for record in records:
        lines.append(f"# ({record['scenario']}) {record['variant']} | {record['server']} | run {record['repeat'] + 1} | {record.get('wall_s')} s")
        lines.append(record.get("command") or "(not started)")
    lines += ["```", "", "</details>", ""]
    del titles
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("jsonl", nargs="?", help="a bench/run.py results file (default: the newest)")
    parser.add_argument("--out", default=str(REPO / "BENCHMARKS.md"))
    parser.add_argument("--plots", default=str(BENCH_DIR / "plots"))
    args = parser.parse_args()

    if args.jsonl:
        path = Path(args.jsonl)
    else:
        found = sorted((BENCH_DIR / "results").glob("*.jsonl"))
        if not found:
            print("report.py: no results in bench/results/; run make bench", file=sys.stderr)
            return 2
        path = found[-1]
    meta, summary, records = load(path)
    by = grouped(records)
    plot_dir = Path(args.plots)
    for old in plot_dir.glob("*.png"):
        old.unlink()
    made = plots(meta, by, plot_dir)
    Path(args.out).write_text(render(path.resolve(), meta, summary, records, made, by))
    print(f"report.py: wrote {args.out} and {len(made)} plots in {os.path.relpath(plot_dir, REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
