#!/usr/bin/env python3
"""Summarise an Autobahn|Testsuite fuzzingclient report.

Reads reports/servers/index.json, shaped
    {agent: {case_id: {"behavior": ..., "behaviorClose": ..., "duration": ms, ...}}}
and prints, per section (first number of the case id) and in total, how many
cases had each behavior, then every failing case.

A case fails when its behavior or behaviorClose is one of FAIL_ON (default
FAILED, UNIMPLEMENTED and UNCLEAN; Autobahn's own HTML report paints an
UNCLEAN close red as well). Exit status is 1 if any case fails, if the number
of cases differs from --expected, or if the report is missing/unreadable;
0 otherwise. The last line printed is always `N passed, N failed`
(cases missing from the report count as failed).

Usage: autobahn_report.py INDEX_JSON [--expected N] [--wall-seconds S]
"""
import argparse
import json
import os
import sys
from collections import Counter, defaultdict

BEHAVIORS = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"]
DEFAULT_FAIL_ON = ["FAILED", "UNIMPLEMENTED", "UNCLEAN"]


def case_key(case_id):
    """'9.10.3' -> (9, 10, 3) so cases sort numerically."""
    out = []
    for part in case_id.split("."):
        try:
            out.append((0, int(part)))
        except ValueError:
            out.append((1, part))
    return tuple(out)


def load_case_detail(index_path, entry):
    """The per-case JSON next to index.json (has description and result)."""
    name = entry.get("reportfile")
    if not name:
        return {}
    try:
        with open(os.path.join(os.path.dirname(index_path), name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def fmt_seconds(s):
    m, sec = divmod(s, 60)
    return f"{s:.1f}s ({int(m)}m{sec:04.1f}s)" if s >= 60 else f"{s:.1f}s"


def main(argv=None):
    ap = argparse.ArgumentParser(description="Summarise an Autobahn index.json")
    ap.add_argument("index", help="path to reports/servers/index.json")
    ap.add_argument("--expected", type=int, default=517,
                    help="required number of cases (0: don't check; default 517)")
    ap.add_argument("--wall-seconds", type=float, default=None,
                    help="measured wall time of the wstest run, to print")
    ap.add_argument("--fail-on", default=",".join(DEFAULT_FAIL_ON),
                    help="comma-separated behaviors that fail a case "
                         "(default: %(default)s)")
    args = ap.parse_args(argv)
    fail_on = {b.strip() for b in args.fail_on.split(",") if b.strip()}

    try:
        with open(args.index) as f:
            index = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"ERROR: cannot read Autobahn report {args.index}: {exc}")
        print(f"0 passed, {max(args.expected, 1)} failed")
        return 1
    if not isinstance(index, dict) or not index:
        print(f"ERROR: {args.index} holds no agent results")
        print(f"0 passed, {max(args.expected, 1)} failed")
        return 1

    total_passed = total_failed = 0
    problems = []
    for agent in sorted(index):
        cases = index[agent]
        by_section = defaultdict(Counter)
        failing = []
        extra_close = Counter()
        duration_ms = 0
        for cid in sorted(cases, key=case_key):
            r = cases[cid]
            beh = r.get("behavior", "?")
            close = r.get("behaviorClose", "?")
            duration_ms += r.get("duration") or 0
            sec = by_section[cid.split(".")[0]]
            sec["cases"] += 1
            sec[beh if beh in BEHAVIORS else "other"] += 1
            if close not in ("OK", "INFORMATIONAL"):
                sec["close!OK"] += 1
                extra_close[close] += 1
            if beh in fail_on or close in fail_on:
                sec["fail"] += 1
                failing.append((cid, beh, close, r))

        print(f"Autobahn|Testsuite fuzzingclient results for agent {agent!r}")
        print(f"report: {args.index}")
        print()
        cols = ["cases"] + BEHAVIORS + ["other", "close!OK", "fail"]
        widths = [max(len(c), 5) for c in cols]
        header = f"{'section':>7}  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths))
        print(header)
        print("-" * len(header))
        totals = Counter()
        for sec in sorted(by_section, key=lambda s: case_key(s)):
            c = by_section[sec]
            totals.update(c)
            print(f"{sec:>7}  " + "  ".join(str(c[k]).rjust(w) for k, w in zip(cols, widths)))
        print("-" * len(header))
        print(f"{'total':>7}  " + "  ".join(str(totals[k]).rjust(w) for k, w in zip(cols, widths)))
        print()
        print("other = behavior outside the five listed (e.g. NO_CLOSE); "
              "close!OK = behaviorClose not OK/INFORMATIONAL")
        if extra_close:
            print("behaviorClose values other than OK/INFORMATIONAL: "
                  + ", ".join(f"{k}={v}" for k, v in sorted(extra_close.items())))
        print(f"failing behaviors: {', '.join(sorted(fail_on))}")
        print()

        if failing:
            print(f"FAILING CASES ({len(failing)}):")
            for cid, beh, close, r in failing:
                detail = load_case_detail(args.index, r)
                desc = (detail.get("description") or r.get("description") or "").strip().splitlines()
                extra = ""
                if r.get("remoteCloseCode") is not None:
                    extra = f" remoteCloseCode={r.get('remoteCloseCode')}"
                print(f"  {cid:<10} behavior={beh:<14} behaviorClose={close:<14}"
                      f" {r.get('duration', '?')} ms{extra}"
                      + (f"  ({r['reportfile']})" if r.get("reportfile") else ""))
                if desc:
                    print(f"             case:   {desc[0][:110]}")
                for key in ("result", "resultClose"):
                    if detail.get(key):
                        print(f"             {key + ':':<7} {str(detail[key])[:110]}")
            print()
        else:
            print("No failing cases.")
            print()

        print(f"sum of case durations: {fmt_seconds(duration_ms / 1000.0)}")
        if args.wall_seconds is not None:
            print(f"suite wall time (wstest run): {fmt_seconds(args.wall_seconds)}")

        n = len(cases)
        passed = n - len(failing)
        failed = len(failing)
        if args.expected and n != args.expected:
            problems.append(f"agent {agent!r}: {n} cases in the report, expected {args.expected}")
            failed += abs(args.expected - n)
        total_passed += passed
        total_failed += failed
        if failing:
            problems.append(f"agent {agent!r}: {len(failing)} failing case(s)")
        print()

    for p in problems:
        print(f"ERROR: {p}")
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
