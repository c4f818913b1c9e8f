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
    perigee_run_python_test auth auth_test.py
}

main "$@"
exit $?
