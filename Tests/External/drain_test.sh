#!/usr/bin/env bash
# Issue 10, item 4 from the outside: SIGTERM mid-stream drains the real binary. One subscriber
# per transport, publishers over HTTP (202) and STOMP (RECEIPT); every publish answered before
# the signal reaches every subscriber before its goodbye (ERROR server shutting down, WebSocket
# close 1001, SockJS c[3000,"Go away!"]); /readyz 503 draining; exit status 0 in time.
#
#   Tests/External/drain_test.sh
#
# Sets up .venv (setup-venvs.sh), then runs drain_test.py against PERIGEE_BIN (default
# .build/debug/perigee) or PERIGEE_CMD. Output: Tests/External/out/drain (server.log, result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=drain
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_run_python_test drain drain_test.py
}

main "$@"
exit $?
