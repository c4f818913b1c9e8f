#!/usr/bin/env bash
# A short perigee-bench run against Perigee: fails on any lost or reordered message, a tool
# that is missing or fails, or a server that dies.
#
#   PERIGEE_BIN=.build/release/perigee BENCH_BIN=.build/release/perigee-bench bench/smoke.sh
#
# Starts Perigee on free loopback ports with bench/perigee.yaml, runs a 10-second fan-out
# (200 WebSocket subscribers, 200 publishes/s) and a 5-second one over SockJS xhr-streaming
# (100 subscribers, 50 publishes/s), then stops the server.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
cd "$REPO"
PERIGEE_BIN="${PERIGEE_BIN:-.build/release/perigee}"
BENCH_BIN="${BENCH_BIN:-.build/release/perigee-bench}"

die() { echo "[bench-smoke] FAILED: $*" >&2; exit 1; }
[ -x "$PERIGEE_BIN" ] || die "PERIGEE_BIN=$PERIGEE_BIN is not an executable"
[ -x "$BENCH_BIN" ] || die "BENCH_BIN=$BENCH_BIN is not an executable (swift build -c release --product perigee-bench)"
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

OUT="$(mktemp -d /tmp/perigee-bench-smoke.XXXXXX)"
PORT="$(free_port)"
STOMP_PORT="$(free_port)"
"$PERIGEE_BIN" --host 127.0.0.1 --port "$PORT" --stomp-port "$STOMP_PORT" \
    --config "$BENCH_DIR/perigee.yaml" >"$OUT/perigee.log" 2>&1 &
SERVER_PID=$!
stop_server() {
    kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
}
trap stop_server EXIT
for _ in $(seq 150); do
    port_open "$PORT" && port_open "$STOMP_PORT" && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "perigee exited at start; see $OUT/perigee.log"
    sleep 0.2
done
port_open "$PORT" || die "perigee did not open 127.0.0.1:$PORT"

# Runs the tool, then checks its JSON: ok, and no step lost or reordered a message.
run() {
    local name="$1"; shift
    local json="$OUT/$name.json" rc=0
    echo "[bench-smoke] $name: $BENCH_BIN $*"
    "$BENCH_BIN" "$@" --server perigee --host 127.0.0.1 --port "$PORT" --stomp-port "$STOMP_PORT" \
        --server-pid "$SERVER_PID" --fail-on-loss --json >"$OUT/$name.out" 2>"$OUT/$name.err" || rc=$?
    grep '^{"tool":"perigee-bench"' "$OUT/$name.out" | tail -1 >"$json" || true
    [ -s "$json" ] || die "$name: no JSON result (exit $rc); see $OUT/$name.err"
    python3 - "$json" "$name" "$rc" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
name, rc = sys.argv[2], int(sys.argv[3])
steps = result.get("steps") or []
lost = sum(s.get("lost") or 0 for s in steps)
reordered = sum(s.get("reordered") or 0 for s in steps)
delivered = sum(s.get("delivered") or 0 for s in steps)
expected = sum(s.get("expected") or 0 for s in steps)
p99 = max(((s.get("latency_ms") or {}).get("p99") or 0 for s in steps), default=0)
print(f"[bench-smoke] {name}: delivered {delivered}/{expected}, lost {lost}, reordered {reordered}, "
      f"connect errors {result.get('connect_errors')}, p99 {p99:.2f} ms, exit {rc}")
problems = []
if rc != 0: problems.append(f"exit status {rc}")
if not result.get("ok"): problems.append("ok is false")
if lost: problems.append(f"{lost} lost")
if reordered: problems.append(f"{reordered} reordered")
if result.get("connect_errors"): problems.append(f"{result['connect_errors']} connect errors")
if not steps or expected == 0: problems.append("no messages were published")
if problems:
    print(f"[bench-smoke] FAILED: {name}: {', '.join(problems)}", file=sys.stderr)
    sys.exit(1)
PY
}

run websocket fanout --transport websocket --subscribers 200 --rate 200 --duration 10 --body-size 64
run xhr-streaming fanout --transport xhr-streaming --subscribers 100 --rate 50 --duration 5 --body-size 64
kill -0 "$SERVER_PID" 2>/dev/null || die "perigee died during the run; see $OUT/perigee.log"
echo "[bench-smoke] passed"
rm -rf "$OUT"
