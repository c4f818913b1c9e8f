#!/usr/bin/env bash
# The peers Perigee is measured against, on 127.0.0.1 only, for `make bench`.
#
#   bench/peers.sh install          apt-get install nginx, nchan, RabbitMQ if any is missing
#   bench/peers.sh run CMD [ARG...] install, start both peers, run CMD with the variables
#                                   below exported, stop both peers (also on failure or Ctrl-C)
#   bench/peers.sh start DIR        start both peers with their state in DIR (left running)
#   bench/peers.sh stop DIR         stop the peers started with `start DIR`
#
# Exported to CMD (and written to DIR/peers.env):
#   NCHAN_PORT       nginx + nchan: /pub/<channel> (publisher), /sub/<channel> (subscriber)
#   NGINX_PIDS       master,worker
#   RABBITMQ_STOMP_PORT, RABBITMQ_WEB_STOMP_PORT (path /ws), RABBITMQ_AMQP_PORT
#   RABBITMQ_PID     the beam.smp process
#   PEERS_VERSIONS   one line: nginx, nchan, RabbitMQ and Erlang versions
#
# nginx runs from our own configuration (bench/nginx.conf.in) with its pid file, logs and
# temporary files in DIR: the system's nginx sites are never read or touched. RabbitMQ runs
# as its own node (perigee-bench@localhost) with its database, logs, cookie and configuration
# (bench/rabbitmq.conf, plugins rabbitmq_stomp + rabbitmq_web_stomp) in DIR, with an
# open-file limit of $PEERS_NOFILE (started through `su` it would get 1,024).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NCHAN_PORT="${NCHAN_PORT:-18080}"
RABBITMQ_STOMP_PORT=61613
RABBITMQ_WEB_STOMP_PORT=15674
RABBITMQ_AMQP_PORT=5672
PEERS_NOFILE="${PEERS_NOFILE:-20000}"
RABBITMQ_NODE="perigee-bench@localhost"
RABBITMQ_BIN=/usr/lib/rabbitmq/bin
PEERS_START_TIMEOUT="${PEERS_START_TIMEOUT:-60}"

log() { echo "[peers] $*" >&2; }
die() { echo "[peers] ERROR: $*" >&2; exit 1; }

install_peers() {
    local missing=() package
    for package in nginx libnginx-mod-nchan rabbitmq-server; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root or sudo to install ${missing[*]}"
        sudo="sudo"
    fi
    # Debian's packages try to start the system services; policy-rc.d may deny that, and
    # either way we stop nothing of theirs: our instances use their own ports and files.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Fails when a port we need is taken (by a system service, or a previous run left behind).
require_free_port() {
    if port_open "$1"; then die "127.0.0.1:$1 ($2) is already in use; stop whatever holds it"; fi
}

# RabbitMQ answers a STOMP CONNECT with CONNECTED once its STOMP plugin is up.
stomp_ready() {
    local reply
    reply="$({ exec 3<>"/dev/tcp/127.0.0.1/$1" \
        && printf 'CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0' >&3 \
        && timeout 2 head -c 9 <&3; } 2>/dev/null)" || return 1
    [ "$reply" = "CONNECTED" ]
}

rabbitmq_env() {
    local dir="$1"
    export HOME="$dir/rabbitmq/home"   # the Erlang cookie lives here, shared with rabbitmqctl
    export RABBITMQ_NODENAME="$RABBITMQ_NODE"
    export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq/rabbitmq-env.conf"
    export RABBITMQ_CONFIG_FILE="$dir/rabbitmq/rabbitmq.conf"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbitmq/enabled_plugins"
    export RABBITMQ_MNESIA_BASE="$dir/rabbitmq/mnesia"
    export RABBITMQ_LOG_BASE="$dir/rabbitmq/log"
    export RABBITMQ_PID_FILE="$dir/rabbitmq/beam.pid"
    export RABBITMQ_DIST_PORT=25672
    export ERL_EPMD_ADDRESS=127.0.0.1
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

start_nginx() {
    local dir="$1/nginx"
    mkdir -p "$dir"
    require_free_port "$NCHAN_PORT" "nchan"
    sed -e "s|@PREFIX@|$dir|g" -e "s|@PORT@|$NCHAN_PORT|g" "$BENCH_DIR/nginx.conf.in" >"$dir/nginx.conf"
    nginx -t -q -p "$dir" -c "$dir/nginx.conf" -g 'error_log stderr warn;' \
        || die "nginx rejected $dir/nginx.conf"
    ( ulimit -n "$PEERS_NOFILE"; nginx -p "$dir" -c "$dir/nginx.conf" )
    local waited=0
    until [ -s "$dir/nginx.pid" ] && port_open "$NCHAN_PORT"; do
        sleep 0.2; waited=$((waited + 1))
        [ $waited -lt 100 ] || die "nginx did not start; see $dir/error.log"
    done
    local master worker
    master="$(cat "$dir/nginx.pid")"
    worker="$(pgrep -P "$master" | head -1 || true)"
    [ -n "$worker" ] || die "nginx has no worker process"
    NGINX_PIDS="$master,$worker"
    log "nginx + nchan on 127.0.0.1:$NCHAN_PORT (pids $NGINX_PIDS, files in $dir)"
}

stop_nginx() {
    local dir="$1/nginx" master
    [ -s "$dir/nginx.pid" ] || return 0
    master="$(cat "$dir/nginx.pid")"
    nginx -p "$dir" -c "$dir/nginx.conf" -s stop 2>/dev/null || kill "$master" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$master" 2>/dev/null || true
    rm -f "$dir/nginx.pid"
    log "nginx stopped"
}

start_rabbitmq() {
    local dir="$1"
    require_free_port "$RABBITMQ_STOMP_PORT" "RabbitMQ STOMP"
    require_free_port "$RABBITMQ_WEB_STOMP_PORT" "RabbitMQ Web-STOMP"
    require_free_port "$RABBITMQ_AMQP_PORT" "RabbitMQ AMQP"
    mkdir -p "$dir/rabbitmq/home" "$dir/rabbitmq/mnesia" "$dir/rabbitmq/log"
    cp "$BENCH_DIR/rabbitmq.conf" "$BENCH_DIR/enabled_plugins" "$dir/rabbitmq/"
    : >"$dir/rabbitmq/rabbitmq-env.conf"
    # epmd is started by the first Erlang node and outlives it: stop it later only if we
    # are the ones who started it.
    if pgrep -x epmd >/dev/null; then echo no >"$dir/rabbitmq/own-epmd"; else echo yes >"$dir/rabbitmq/own-epmd"; fi
    (
        rabbitmq_env "$dir"
        ulimit -n "$PEERS_NOFILE"
        exec setsid "$RABBITMQ_BIN/rabbitmq-server" >"$dir/rabbitmq/stdout.log" 2>&1 </dev/null
    ) &
    echo $! >"$dir/rabbitmq/launcher.pid"
    local waited=0
    until stomp_ready "$RABBITMQ_STOMP_PORT" && port_open "$RABBITMQ_WEB_STOMP_PORT" \
            && port_open "$RABBITMQ_AMQP_PORT" && [ -s "$dir/rabbitmq/beam.pid" ]; do
        kill -0 "$(cat "$dir/rabbitmq/launcher.pid")" 2>/dev/null \
            || die "RabbitMQ exited while starting; see $dir/rabbitmq/stdout.log and $dir/rabbitmq/log"
        sleep 0.5; waited=$((waited + 1))
        [ $waited -lt $((PEERS_START_TIMEOUT * 2)) ] || die "RabbitMQ not ready after ${PEERS_START_TIMEOUT}s; see $dir/rabbitmq/log"
    done
    RABBITMQ_PID="$(cat "$dir/rabbitmq/beam.pid")"
    local limit
    limit="$(awk '/Max open files/ {print $4}' "/proc/$RABBITMQ_PID/limits")"
    [ "$limit" -ge "$PEERS_NOFILE" ] || die "RabbitMQ's open-file limit is $limit, wanted $PEERS_NOFILE"
    log "RabbitMQ on 127.0.0.1: stomp $RABBITMQ_STOMP_PORT, web-stomp $RABBITMQ_WEB_STOMP_PORT, amqp $RABBITMQ_AMQP_PORT (beam.smp $RABBITMQ_PID, open files $limit)"
}

stop_rabbitmq() {
    local dir="$1" pid=""
    [ -d "$dir/rabbitmq" ] || return 0
    [ -s "$dir/rabbitmq/beam.pid" ] && pid="$(cat "$dir/rabbitmq/beam.pid")"
    ( rabbitmq_env "$dir"; timeout 30 "$RABBITMQ_BIN/rabbitmqctl" -q -n "$RABBITMQ_NODE" stop >/dev/null 2>&1 ) || true
    if [ -n "$pid" ]; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    local launcher
    launcher="$(cat "$dir/rabbitmq/launcher.pid" 2>/dev/null || true)"
    [ -z "$launcher" ] || kill "$launcher" 2>/dev/null || true
    if [ "$(cat "$dir/rabbitmq/own-epmd" 2>/dev/null)" = yes ]; then
        epmd -kill >/dev/null 2>&1 || true
    fi
    rm -f "$dir/rabbitmq/beam.pid"
    log "RabbitMQ stopped"
}

versions() {
    local nginx_v nchan_v rabbit_v erlang_v
    nginx_v="$(nginx -v 2>&1 | sed 's|.*nginx/||')"
    nchan_v="$(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null)"
    rabbit_v="$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null)"
    erlang_v="$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null)"
    echo "nginx $nginx_v; nchan (libnginx-mod-nchan) $nchan_v; RabbitMQ (rabbitmq-server) $rabbit_v; Erlang (erlang-base) $erlang_v"
}

start_all() {
    local dir="$1"
    mkdir -p "$dir"
    start_nginx "$dir"
    start_rabbitmq "$dir"
    cat >"$dir/peers.env" <<EOF
NCHAN_PORT=$NCHAN_PORT
NGINX_PIDS=$NGINX_PIDS
RABBITMQ_STOMP_PORT=$RABBITMQ_STOMP_PORT
RABBITMQ_WEB_STOMP_PORT=$RABBITMQ_WEB_STOMP_PORT
RABBITMQ_AMQP_PORT=$RABBITMQ_AMQP_PORT
RABBITMQ_PID=$RABBITMQ_PID
PEERS_VERSIONS="$(versions)"
EOF
}

stop_all() {
    stop_nginx "$1"
    stop_rabbitmq "$1"
}

case "${1:-}" in
    install)
        install_peers ;;
    start)
        [ -n "${2:-}" ] || die "usage: $0 start DIR"
        install_peers; start_all "$2"; cat "$2/peers.env" ;;
    stop)
        [ -n "${2:-}" ] || die "usage: $0 stop DIR"
        stop_all "$2" ;;
    run)
        shift
        [ $# -gt 0 ] || die "usage: $0 run CMD [ARG...]"
        install_peers
        PEERS_DIR="$(mktemp -d /tmp/perigee-bench-peers.XXXXXX)"
        cleanup() {
            local rc=$?
            trap - EXIT INT TERM
            stop_all "$PEERS_DIR"
            rm -rf "$PEERS_DIR"
            exit $rc
        }
        trap cleanup EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        start_all "$PEERS_DIR"
        set -a
        # shellcheck disable=SC1091
        source "$PEERS_DIR/peers.env"
        set +a
        export PEERS_DIR
        # Not exec: the trap must run after CMD ends.
        "$@" ;;
    *)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 2 ;;
esac
