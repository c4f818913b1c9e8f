#!/usr/bin/env bash
# STOMP with third-party clients: stomp.py over TCP and WebSocket, raw frames with `websockets`.
#
#   Tests/External/stomp_py_test.sh
#
# Sets up .venv (setup-venvs.sh), then runs stomp_py_test.py, which starts the server itself
# with HTTP/WebSocket and STOMP-over-TCP ports: PERIGEE_BIN (default .build/debug/perigee) or
# PERIGEE_CMD with '{port}' and '{stomp_port}'. Output: Tests/External/out/stomp-py
# (server.log, result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=stomp-py
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    PERIGEE_DIE_TALLY="0 passed, 1 failed"
    OUT="$PERIGEE_EXT_DIR/out/stomp-py"
    mkdir -p "$OUT"

    "$PERIGEE_EXT_DIR/setup-venvs.sh" >/dev/null || perigee_die "setting up the Python environments failed"
    perigee_run_py_test stomp_py_test.py "$OUT"
}

main "$@"
exit $?
