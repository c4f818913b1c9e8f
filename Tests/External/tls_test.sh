#!/usr/bin/env bash
# TLS (HTTPS, WSS, STOMP over TLS, certificate reload on SIGHUP) and the origin allow-list with
# third-party clients: requests, websockets, stomp.py, and the openssl command.
#
#   Tests/External/tls_test.sh
#
# Sets up .venv (setup-venvs.sh), then runs tls_test.py, which makes its certificates in a
# temporary folder and starts the server itself (PERIGEE_BIN, default .build/debug/perigee) with
# a configuration file. Output: Tests/External/out/tls (server.log, result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=tls
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_run_python_test tls tls_test.py
}

main "$@"
exit $?
