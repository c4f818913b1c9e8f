#!/usr/bin/env bash
# The shoutbox in headless Chromium (selenium), two windows against one server: over the
# default transport, then forced to each perigee.js transport in turn (websocket,
# xhr-streaming, eventsource, xhr-polling), mixed (websocket + xhr-polling), and falling back
# by itself when WebSocket (and then the first SockJS transports) fail. Then
# history_browser_test.py: history, resume and presence (issue 11) — recent shouts on opening,
# the recovery notice after a server restart, a forced fallback that loses no shout, and who
# is here (JWT users listed once however many tabs, anonymous viewers counted).
#
#   Tests/External/browser_test.sh
#
# Installs Chromium and chromedriver from Debian if missing, sets up .venv (setup-venvs.sh),
# then runs browser_test.py and history_browser_test.py, which start the server themselves
# (each restarts it once to test reconnection): PERIGEE_BIN (default .build/debug/perigee) or
# PERIGEE_CMD with '{port}'.
# Also runs the node unit tests of web/perigee.js first (perigee_*_test.mjs, one per module);
# without node that counts as a failure.
# Output: Tests/External/out/browser (server.log, result.txt, history_result.txt,
# screenshots *.png).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=browser
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    PERIGEE_DIE_TALLY="0 passed, 1 failed"
    OUT="$PERIGEE_EXT_DIR/out/browser"
    mkdir -p "$OUT"
    rm -f "$OUT"/*.png

    perigee_need_debs chromium chromium-driver
    "$PERIGEE_EXT_DIR/setup-venvs.sh" >/dev/null || perigee_die "setting up the Python environments failed"
    PY="${VENV_DIR:-$PERIGEE_REPO_ROOT/.venv}/bin/python"

    local passed=0 failed=0 rc=0
    if command -v node >/dev/null 2>&1; then
        perigee_log "node --test perigee_*_test.mjs"
        node --test --test-reporter=tap "$PERIGEE_EXT_DIR"/perigee_*_test.mjs >"$OUT/js-unit.txt" 2>&1 || rc=$?
        passed=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$OUT/js-unit.txt")
        failed=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$OUT/js-unit.txt")
        grep -E '^(not )?ok ' "$OUT/js-unit.txt" | sed 's/^/  js: /' || true
        if [[ -z "$passed" || -z "$failed" ]]; then
            tail -n 20 "$OUT/js-unit.txt"; passed=0; failed=1
        fi
    else
        # A test that passes when its tool is missing is a failing test.
        perigee_log "FAIL: node not found, so the perigee.js unit tests cannot run" \
            "(scripts/install-deps.sh installs Debian's nodejs)"
        failed=1
    fi

    local prc=0 script result tally
    for script in browser_test history_browser_test; do
        result="$OUT/${script%browser_test}result.txt"
        (cd "$PERIGEE_REPO_ROOT" && SE_OFFLINE=true "$PY" "$PERIGEE_EXT_DIR/$script.py" --out "$OUT") \
            >"$result" 2>&1 || prc=$?
        head -n -1 "$result"
        tally="$(tail -n 1 "$result")"
        if [[ "$tally" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
        else
            echo "$script: $tally"; failed=$((failed + 1))
        fi
    done
    (( prc == 0 && rc == 0 )) || (( failed > 0 )) || failed=1
    echo "$passed passed, $failed failed"
    (( failed == 0 ))
}

main "$@"
exit $?
