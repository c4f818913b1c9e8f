#!/usr/bin/env bash
# Issue 9 from the outside: JWT (HS256, RS256, ES256), connect/subscribe/send hooks and sender
# identity, on STOMP/TCP, STOMP/WebSocket and SockJS (sockjs-websocket, xhr-streaming, xhr-polling).
#
#   Tests/External/auth_test.sh
#
# Sets up .venv (setup-venvs.sh: websockets, requests, pyjwt, cryptography), then runs
# auth_test.py, which makes its keys and tokens, runs its own hook server and starts the server
# once per configuration: PERIGEE_BIN (default .build/debug/perigee) or PERIGEE_CMD with '{port}',
# '{stomp_port}' and '{config}'. Output: Tests/External/out/auth (server-*.log, perigee-*.yaml,
# result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=auth
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    PERIGEE_DIE_TALLY="0 passed, 1 failed"
    OUT="$PERIGEE_EXT_DIR/out/auth"
    mkdir -p "$OUT"

    "$PERIGEE_EXT_DIR/setup-venvs.sh" >/dev/null || perigee_die "setting up the Python environments failed"
    perigee_run_py_test auth_test.py "$OUT"
}

main "$@"
exit $?
