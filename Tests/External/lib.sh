# shellcheck shell=bash
# Shared helpers for the external conformance harness. Source it; don't run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   perigee_start_server "$OUT_DIR"     # sets PERIGEE_PORT, PERIGEE_PID, PERIGEE_URL
#   trap perigee_stop_server EXIT
#
# How the server is started:
#   PERIGEE_CMD  whole command line, '{port}' replaced by the chosen port, run
#                by bash (e.g. the stand-in:
#                PERIGEE_CMD='.venv/bin/python Tests/External/standin_echo_server.py --port {port}')
#   PERIGEE_BIN  the perigee binary (default .build/release/perigee), started as
#                $PERIGEE_BIN --host 127.0.0.1 --port PORT --stomp-port 0 --conformance
#   PERIGEE_PORT port to use (default: a free port picked at random)
#   PERIGEE_START_TIMEOUT seconds to wait for the port to accept (default 30)
# Relative paths are relative to the repository root; commands run from there.

PERIGEE_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PERIGEE_EXT_DIR="$PERIGEE_REPO_ROOT/Tests/External"
PERIGEE_PID=""
PERIGEE_LOG=""

perigee_log() { echo "[${PERIGEE_LOG_TAG:-external}] $*"; }
# On a fatal error the scripts still end with a tally line (PERIGEE_DIE_TALLY,
# e.g. "0 passed, 1 failed") so test-output readers see a failure, not nothing.
perigee_die() {
    echo "[${PERIGEE_LOG_TAG:-external}] ERROR: $*" >&2
    [[ -z "${PERIGEE_DIE_TALLY:-}" ]] || echo "$PERIGEE_DIE_TALLY"
    exit 1
}

# A Python 3 for the small helpers below (the venv's if it exists).
perigee_python() {
    if [[ -x "$PERIGEE_REPO_ROOT/.venv/bin/python" ]]; then
        echo "$PERIGEE_REPO_ROOT/.venv/bin/python"
    else
        command -v python3 || perigee_die "python3 not found"
    fi
}

# Print a TCP port on 127.0.0.1 that is free right now.
perigee_free_port() {
    "$(perigee_python)" - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# True if 127.0.0.1:$1 accepts a TCP connection.
perigee_port_open() {
    "$(perigee_python)" - "$1" <<'PY'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

# perigee_start_server OUT_DIR
# Starts the server in its own process group, logging to OUT_DIR/server.log,
# and waits until its port accepts connections. Exits the script on failure.
perigee_start_server() {
    local out_dir="$1"
    mkdir -p "$out_dir"
    PERIGEE_LOG="$out_dir/server.log"
    PERIGEE_PORT="${PERIGEE_PORT:-$(perigee_free_port)}"
    local cmd
    if [[ -n "${PERIGEE_CMD:-}" ]]; then
        cmd="${PERIGEE_CMD//\{port\}/$PERIGEE_PORT}"
    else
        local bin="${PERIGEE_BIN:-.build/release/perigee}"
        local abs="$bin"
        [[ "$abs" == /* ]] || abs="$PERIGEE_REPO_ROOT/$abs"
        [[ -x "$abs" ]] || perigee_die "server binary not found or not executable: $abs
  Build it first (swift build -c release), set PERIGEE_BIN=/path/to/perigee,
  or set PERIGEE_CMD='command line with {port}' to test another server."
        cmd="$(printf '%q ' "$abs" --host 127.0.0.1 --port "$PERIGEE_PORT" --stomp-port 0 --conformance)"
    fi
    PERIGEE_URL="ws://127.0.0.1:$PERIGEE_PORT/echo/websocket"
    perigee_log "starting server: $cmd"
    perigee_log "server log: $PERIGEE_LOG"
    # setsid: own process group, so stopping it also stops anything it spawned.
    (cd "$PERIGEE_REPO_ROOT" && exec setsid bash -c "exec $cmd") >"$PERIGEE_LOG" 2>&1 </dev/null &
    PERIGEE_PID=$!

    local timeout="${PERIGEE_START_TIMEOUT:-30}"
    local deadline=$((SECONDS + timeout))
    until perigee_port_open "$PERIGEE_PORT"; do
        if ! kill -0 "$PERIGEE_PID" 2>/dev/null; then
            local rc=0; wait "$PERIGEE_PID" 2>/dev/null || rc=$?
            PERIGEE_PID=""
            echo "----- server log (last 40 lines) -----" >&2
            tail -n 40 "$PERIGEE_LOG" >&2 || true
            echo "--------------------------------------" >&2
            perigee_die "server exited with status $rc before listening on port $PERIGEE_PORT"
        fi
        if (( SECONDS >= deadline )); then
            echo "----- server log (last 40 lines) -----" >&2
            tail -n 40 "$PERIGEE_LOG" >&2 || true
            echo "--------------------------------------" >&2
            perigee_stop_server
            perigee_die "timed out after ${timeout}s waiting for the server to accept connections on 127.0.0.1:$PERIGEE_PORT"
        fi
        sleep 0.2
    done
    perigee_log "server up (pid $PERIGEE_PID) at $PERIGEE_URL"
}

# True while the server started by perigee_start_server is running.
perigee_server_alive() {
    [[ -n "$PERIGEE_PID" ]] && kill -0 "$PERIGEE_PID" 2>/dev/null
}

# Stop the server (TERM, then KILL after 5 s). Safe to call more than once.
perigee_stop_server() {
    [[ -n "$PERIGEE_PID" ]] || return 0
    local pid="$PERIGEE_PID"
    PERIGEE_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        perigee_log "stopping server (pid $pid)"
        # Signal the process group setsid created; fall back to the pid.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            perigee_log "server did not stop after TERM; sending KILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

# perigee_run_python_test NAME SCRIPT
# For a Python test that starts the server itself (perigee_server.py): sets up .venv, runs
# SCRIPT --out Tests/External/out/NAME with the repository root as the working folder, prints
# its PASS/FAIL lines and a final `N passed, N failed` tally (a failure if the script's status
# says so even when its own tally does not), and exits with the script's status.
perigee_run_python_test() {
    local name="$1" script="$2"
    PERIGEE_DIE_TALLY="0 passed, 1 failed"
    local out="$PERIGEE_EXT_DIR/out/$name"
    mkdir -p "$out"
    "$PERIGEE_EXT_DIR/setup-venvs.sh" >/dev/null || perigee_die "setting up the Python environments failed"
    local py="${VENV_DIR:-$PERIGEE_REPO_ROOT/.venv}/bin/python"
    local rc=0
    (cd "$PERIGEE_REPO_ROOT" && "$py" "$PERIGEE_EXT_DIR/$script" --out "$out") >"$out/result.txt" 2>&1 || rc=$?
    head -n -1 "$out/result.txt"
    local tally
    tally="$(tail -n 1 "$out/result.txt")"
    if ! [[ "$tally" =~ ^[0-9]+\ passed,\ [0-9]+\ failed$ ]]; then
        echo "$tally"; tally="0 passed, 1 failed"; rc=1
    elif [[ "$tally" =~ ^[0-9]+\ passed,\ 0\ failed$ ]] && (( rc != 0 )); then
        tally="${tally%0 failed}1 failed"
    fi
    echo "$tally"
    exit "$rc"
}
