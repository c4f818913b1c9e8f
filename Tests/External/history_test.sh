#!/usr/bin/env bash
# Issue 11 from the outside: positions, resume (perigee-since), perigee-history, presence and the
# history and presence APIs, against the real binary with `channels:` configured.
#
#   Tests/External/history_test.sh
#
# Sets up .venv (setup-venvs.sh: websockets, requests, pyjwt), then runs history_test.py, which
# writes its configuration and starts the server: PERIGEE_BIN (default .build/debug/perigee) or
# PERIGEE_CMD with '{port}', '{stomp_port}' and '{config}'. Output: Tests/External/out/history
# (server.log, perigee-history.yaml, result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=history
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_run_python_test history history_test.py
}

main "$@"
exit $?
