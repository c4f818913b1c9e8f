#!/usr/bin/env bash
# wscat-style session against the echo endpoint using the `websockets` CLI
# (python -m websockets), with pipes and under a pseudo-terminal.
#
#   Tests/External/ws_cli_test.sh
#
# Starts the server like autobahn.sh does (PERIGEE_BIN / PERIGEE_CMD, see
# lib.sh); output dir Tests/External/out/ws-cli (server.log).
# Environment: WS_CLI_MODE=pipes|pty|both (default both).
set -euo pipefail
# The body is one function so bash has read all of it before running it
# (editing this file during a run then cannot break that run).
main() {
    PERIGEE_LOG_TAG=ws-cli
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    PERIGEE_DIE_TALLY="0 passed, 1 failed"

    "$PERIGEE_EXT_DIR/setup-venvs.sh" || perigee_die "setting up the Python environments failed"
    PY="${VENV_DIR:-$PERIGEE_REPO_ROOT/.venv}/bin/python"
    OUT="$PERIGEE_EXT_DIR/out/ws-cli"

    trap perigee_stop_server EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    perigee_start_server "$OUT"

    RC=0
    "$PY" "$PERIGEE_EXT_DIR/ws_cli_test.py" --url "$PERIGEE_URL" --python "$PY" \
        --mode "${WS_CLI_MODE:-both}" >"$OUT/result.txt" 2>&1 || RC=$?
    head -n -1 "$OUT/result.txt"
    TALLY="$(tail -n 1 "$OUT/result.txt")"
    if ! perigee_server_alive; then
        echo "ERROR: the server process exited during the test (see $PERIGEE_LOG)"
        RC=1
    fi
    perigee_stop_server
    [[ "$TALLY" =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]] || { echo "$TALLY"; TALLY="0 passed, 1 failed"; RC=1; }
    echo "$TALLY"
    exit "$RC"
}

main "$@"
exit $?
