#!/usr/bin/env bash
# Issue 10 item 1 from the outside: GET /metrics parsed with prometheus_client's text parser
# after a scripted session (STOMP/TCP, WebSocket and SockJS xhr-polling subscribers, HTTP and
# STOMP publishes, a denied subscription, a bad frame, a frame over a limit, a refused
# handshake, an expired JWT); every counter must have moved by what the script did.
#
#   Tests/External/metrics_test.sh
#
# Sets up .venv (setup-venvs.sh: prometheus-client among others), then runs metrics_test.py,
# which starts the server itself: PERIGEE_BIN (default .build/debug/perigee) or PERIGEE_CMD
# with '{port}', '{stomp_port}' and '{config}'. Output: Tests/External/out/metrics (server.log,
# perigee-metrics.yaml, result.txt).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=metrics
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_run_python_test metrics metrics_test.py
}

main "$@"
exit $?
