#!/usr/bin/env bash
# Configuration reload on SIGHUP with the real binary: API keys and access rules change while
# stomp.py (STOMP/TCP) and websockets (STOMP over WebSocket) connections stay open, and an
# invalid file is refused with the error --check-config prints for it.
#
#   Tests/External/reload_test.sh
#
# Sets up .venv (setup-venvs.sh), then runs reload_test.py, which starts the server itself
# (PERIGEE_BIN, default .build/debug/perigee) with a configuration file it rewrites.
# Output: Tests/External/out/reload (server.log, result.txt, the configuration file).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=reload
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_run_python_test reload reload_test.py
}

main "$@"
exit $?
