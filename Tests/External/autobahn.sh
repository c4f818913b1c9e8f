#!/usr/bin/env bash
# Run the Autobahn|Testsuite fuzzingclient (all 517 cases by default) against
# the server's echo endpoint and summarise the result.
#
#   Tests/External/autobahn.sh
#
# Environment:
#   PERIGEE_BIN / PERIGEE_CMD / PERIGEE_PORT / PERIGEE_START_TIMEOUT
#                    how to start the server (see lib.sh)
#   AUTOBAHN_CASES   JSON list of case patterns, default '["*"]' (all cases;
#                    then exactly 517 are required). E.g. '["1.*","2.*","7.*"]'
#   AUTOBAHN_OUT     output dir (default Tests/External/out/autobahn); the HTML
#                    report is at $AUTOBAHN_OUT/reports/servers/index.html
#   AUTOBAHN_TIMEOUT seconds before wstest is killed (default 3600)
# Exit status 0 only if every case passed (see autobahn_report.py).
set -euo pipefail
# The body is one function so bash has read all of it before running it
# (editing this file during a run then cannot break that run).
main() {
    PERIGEE_LOG_TAG=autobahn
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    PERIGEE_DIE_TALLY="0 passed, 1 failed"

    "$PERIGEE_EXT_DIR/setup-venvs.sh" || perigee_die "setting up the Python environments failed"
    WSTEST="${VENV27_DIR:-$PERIGEE_REPO_ROOT/.venv27}/bin/wstest"
    PY="${VENV_DIR:-$PERIGEE_REPO_ROOT/.venv}/bin/python"

    OUT="${AUTOBAHN_OUT:-$PERIGEE_EXT_DIR/out/autobahn}"
    mkdir -p "$OUT"
    OUT="$(cd "$OUT" && pwd)"
    CASES="${AUTOBAHN_CASES:-[\"*\"]}"
    # Validate and normalise the case list; only the full suite must have 517.
    CASES="$("$PY" -c 'import json, sys; c = json.loads(sys.argv[1]); assert isinstance(c, list) and c and all(isinstance(x, str) for x in c); print(json.dumps(c))' "$CASES")" || perigee_die "AUTOBAHN_CASES must be a non-empty JSON list of strings, got: ${AUTOBAHN_CASES}"
    if [[ "$CASES" == '["*"]' ]]; then EXPECTED=517; else EXPECTED=0; fi

    # Fresh report dir, so stale results from an earlier run are never counted.
    rm -rf "$OUT/reports"
    trap perigee_stop_server EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    perigee_start_server "$OUT"

    # The Python 2 client, not the server, limits the pace: the full suite runs as two wstest
    # processes side by side on balanced halves (sections 12 and 13 take most of the time),
    # and their reports are merged. A subset runs as one process.
    if [[ "$CASES" == '["*"]' ]]; then
        SHARDS=('["1.*","2.*","3.*","4.*","5.*","6.*","7.*","9.*","10.*","12.*","13.1.*"]' \
                '["13.2.*","13.3.*","13.4.*","13.5.*","13.6.*","13.7.*"]')
    else
        SHARDS=("$CASES")
    fi
    rm -rf "$OUT"/shard-*
    start=$(date +%s.%N)
    PIDS=()
    for index in "${!SHARDS[@]}"; do
        shard="$OUT/shard-$index"
        mkdir -p "$shard"
        cat >"$shard/fuzzingclient.json" <<JSON
{
  "options": {},
  "outdir": "./reports/servers",
  "servers": [
    {"agent": "Perigee", "url": "$PERIGEE_URL"}
  ],
  "cases": ${SHARDS[$index]},
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
        perigee_log "wstest shard $index: cases ${SHARDS[$index]}; output in $shard/wstest.log"
        (cd "$shard" && exec timeout --kill-after=10 "${AUTOBAHN_TIMEOUT:-3600}" \
            "$WSTEST" -m fuzzingclient -s fuzzingclient.json >wstest.log 2>&1) &
        PIDS+=($!)
    done
    WSTEST_RC=0
    for pid in "${PIDS[@]}"; do
        wait "$pid" || WSTEST_RC=$?
    done
    end=$(date +%s.%N)
    WALL=$("$PY" -c "print(round($end - $start, 1))")
    perigee_log "wstest finished in ${WALL}s with status $WSTEST_RC"
    # One report directory: every shard's per-case files and a merged index.json.
    mkdir -p "$OUT/reports/servers"
    for index in "${!SHARDS[@]}"; do
        cp -r "$OUT/shard-$index/reports/servers/." "$OUT/reports/servers/" 2>/dev/null || true
        cat "$OUT/shard-$index/wstest.log" >>"$OUT/wstest.log" 2>/dev/null || true
    done
    "$PY" - "$OUT" "${#SHARDS[@]}" <<'PY'
import json, os, sys
out, count = sys.argv[1], int(sys.argv[2])
merged = {}
for index in range(count):
    path = os.path.join(out, "shard-%d" % index, "reports", "servers", "index.json")
    if not os.path.exists(path):
        continue
    with open(path) as f:
        for agent, cases in json.load(f).items():
            merged.setdefault(agent, {}).update(cases)
with open(os.path.join(out, "reports", "servers", "index.json"), "w") as f:
    json.dump(merged, f)
PY

    SERVER_DIED=0
    if ! perigee_server_alive; then
        SERVER_DIED=1
        echo "----- server log (last 40 lines) -----"
        tail -n 40 "$PERIGEE_LOG" || true
        echo "--------------------------------------"
    fi
    perigee_stop_server

    if (( WSTEST_RC != 0 )); then
        echo "----- wstest log (last 30 lines) -----"
        tail -n 30 "$OUT"/shard-*/wstest.log || true
        echo "--------------------------------------"
    fi

    echo
    REPORT_RC=0
    "$PY" "$PERIGEE_EXT_DIR/autobahn_report.py" "$OUT/reports/servers/index.json" \
        --expected "$EXPECTED" --wall-seconds "$WALL" >"$OUT/summary.txt" || REPORT_RC=$?
    # Print all but the closing tally, then our own errors, then the tally last.
    head -n -1 "$OUT/summary.txt"
    TALLY="$(tail -n 1 "$OUT/summary.txt")"
    echo "HTML report: $OUT/reports/servers/index.html"
    RC=$REPORT_RC
    if (( WSTEST_RC != 0 )); then
        echo "ERROR: wstest exited with status $WSTEST_RC (124 = timed out after ${AUTOBAHN_TIMEOUT:-3600}s)"
        RC=1
    fi
    if (( SERVER_DIED )); then
        echo "ERROR: the server process exited during the suite (see $PERIGEE_LOG)"
        RC=1
    fi
    echo "$TALLY"
    exit "$RC"
}

main "$@"
exit $?
