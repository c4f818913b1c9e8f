#!/usr/bin/env bash
# Issue 10, item 3 from the outside: structured logs (--log-format json|text, --log-level) hold
# no secrets and write one event per line.
#
#   Tests/External/log_secrets_test.sh
#
# Sets up .venv (setup-venvs.sh: websockets, requests, pyjwt), then runs log_secrets_test.py,
# which runs its own hook server and starts the server twice (json by flags, text by
# PERIGEE_LOG_* variables): PERIGEE_BIN (default .build/debug/perigee) or PERIGEE_CMD with
# '{port}', '{stomp_port}' and '{config}'. It plays a session with API keys, passcodes, JWTs
# (header, ?token=), cookies and a malformed request, then greps the server's output for every
# secret. Output: Tests/External/out/logs (server-json.log, server-text.log, result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=logs
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_run_python_test logs log_secrets_test.py
}

main "$@"
exit $?
