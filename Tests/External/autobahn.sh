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

    cat >"$OUT/fuzzingclient.json" <<JSON
{
  "options": {},
  "outdir": "./reports/servers",
  "servers": [
    {"agent": "Perigee", "url": "$PERIGEE_URL"}
  ],
  "cases": $CASES,
  "exclude-cases": [],
  "exclude-agent-cases": {}
}
JSON
    perigee_log "spec: $OUT/fuzzingclient.json (cases: $CASES)"
    perigee_log "running wstest -m fuzzingclient; output in $OUT/wstest.log"

    WSTEST_RC=0
    start=$(date +%s.%N)
    (cd "$OUT" && timeout --kill-after=10 "${AUTOBAHN_TIMEOUT:-3600}" \
        "$WSTEST" -m fuzzingclient -s fuzzingclient.json >wstest.log 2>&1) || WSTEST_RC=$?
    end=$(date +%s.%N)
    WALL=$("$PY" -c "print(round($end - $start, 1))")
    perigee_log "wstest finished in ${WALL}s with status $WSTEST_RC"

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
        tail -n 30 "$OUT/wstest.log" || true
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
