#!/usr/bin/env bash
# Issue 10 items 6 and 7 from the outside: the admin API (list, disconnect a session or a user
# on every transport, unsubscribe, destinations), API key roles, and /topic/$sys.stats.
#
#   Tests/External/admin_test.sh
#
# Sets up .venv (setup-venvs.sh: websockets, requests, pyjwt), then runs admin_test.py, which
# writes its configuration and starts the server: PERIGEE_BIN (default .build/debug/perigee) or
# PERIGEE_CMD with '{port}', '{stomp_port}' and '{config}'. Output: Tests/External/out/admin
# (server.log, perigee-admin.yaml, result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=admin
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_run_python_test admin admin_test.py
}

main "$@"
exit $?
