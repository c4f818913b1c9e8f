#!/usr/bin/env bash
# The real sockjs-client (Debian node-sockjs-client's browser bundle) against Perigee's SockJS
# endpoint, in headless Chromium (selenium), once per sockjs-client transport.
#
#   Tests/External/sockjs_client_test.sh
#
# Installs Chromium, chromedriver and node-sockjs-client from Debian if missing, sets up .venv
# (setup-venvs.sh), then runs sockjs_client_test.py, which builds its web root and configuration
# under the output folder and starts the server itself: PERIGEE_BIN (default
# .build/debug/perigee) or PERIGEE_CMD with '{port}', '{config}' and '{web_root}'.
# Output: Tests/External/out/sockjs-client (server.log, result.txt, webroot/, perigee.yaml).
set -euo pipefail
main() {
    PERIGEE_LOG_TAG=sockjs-client
    source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
    PERIGEE_DIE_TALLY="0 passed, 1 failed"
    OUT="$PERIGEE_EXT_DIR/out/sockjs-client"
    mkdir -p "$OUT"

    perigee_need_debs chromium chromium-driver node-sockjs-client
    "$PERIGEE_EXT_DIR/setup-venvs.sh" >/dev/null || perigee_die "setting up the Python environments failed"
    PY="${VENV_DIR:-$PERIGEE_REPO_ROOT/.venv}/bin/python"

    local rc=0
    (cd "$PERIGEE_REPO_ROOT" && SE_OFFLINE=true "$PY" "$PERIGEE_EXT_DIR/sockjs_client_test.py" --out "$OUT") \
        >"$OUT/result.txt" 2>&1 || rc=$?
    cat "$OUT/result.txt"
    local tally
    tally="$(tail -n 1 "$OUT/result.txt")"
    if [[ ! "$tally" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        echo "0 passed, 1 failed"
        return 1
    fi
    (( rc == 0 && BASH_REMATCH[2] == 0 )) || { (( BASH_REMATCH[2] > 0 )) || echo "0 passed, 1 failed"; return 1; }
}

main "$@"
exit $?
