#!/usr/bin/env bash
# The live status page (web/status.html) in headless Chromium (selenium): an unknown key and a
# non-admin key are refused with a clear message; the admin key connects and, while a STOMP
# client sends and receives, the page shows nonzero messages/s in and out, WebSocket
# connections, subscriptions and ERROR frames by message, drawn as live charts.
#
#   Tests/External/status_page_test.sh
#
# Installs Chromium and chromedriver from Debian if missing, sets up .venv (setup-venvs.sh),
# then runs status_page_test.py, which starts the server itself: PERIGEE_BIN (default
# .build/debug/perigee) or PERIGEE_CMD with '{port}', '{stomp_port}' and '{config}'.
# Output: Tests/External/out/status-page (server.log, result.txt) and the screenshot
# Tests/External/out/status.png.
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=status-page
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    perigee_need_debs chromium chromium-driver
    rm -f "$PERIGEE_EXT_DIR/out/status.png"
    SE_OFFLINE=true perigee_run_python_test status-page status_page_test.py
}

main "$@"
exit $?
