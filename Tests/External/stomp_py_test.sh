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
    perigee_run_python_test stomp-py stomp_py_test.py
}

main "$@"
exit $?
