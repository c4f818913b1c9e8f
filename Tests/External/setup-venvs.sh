#!/usr/bin/env bash
# Create the Python environments used by the external conformance tests.
#
#   .venv    Python 3: websockets (CLI + stand-in server), stomp-py, selenium,
#            requests, pexpect, pyjwt + cryptography (auth_test.py makes its own keys and tokens),
#            prometheus-client (metrics_test.py parses /metrics with its text parser)
#   .venv27  Python 2.7: autobahntestsuite==25.10.1 (provides `wstest`;
#            the Autobahn|Testsuite only runs on Python 2.7)
#
# Both are created at the repository root. The script is idempotent: each
# environment gets a stamp file recording what was installed into it, and
# when the stamp matches (and the interpreter is still there) nothing is done.
# Delete the venv directory (or its stamp) to force a rebuild.
#
# Environment overrides:
#   PYTHON3     Python 3 interpreter used for .venv (default: python3)
#   PYTHON27    Python 2.7 interpreter used for .venv27
#               (default: $(pyenv root)/versions/2.7.18/bin/python2.7, then
#               any python2.7 on PATH)
#   VENV_DIR, VENV27_DIR   where to put the environments
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_DIR="${VENV_DIR:-$REPO_ROOT/.venv}"
VENV27_DIR="${VENV27_DIR:-$REPO_ROOT/.venv27}"
PYTHON3="${PYTHON3:-python3}"

# Bump a spec (or edit the package list) to make every machine rebuild.
PY3_PACKAGES=(websockets stomp-py selenium requests pexpect pyjwt cryptography prometheus-client)
PY27_PACKAGES=("autobahntestsuite==25.10.1")
PY3_SPEC="v3 ${PY3_PACKAGES[*]}"
PY27_SPEC="v1 ${PY27_PACKAGES[*]}"
STAMP_NAME=".perigee-setup-stamp"

log() { echo "[setup-venvs] $*"; }
die() { echo "[setup-venvs] ERROR: $*" >&2; exit 1; }

export PIP_DISABLE_PIP_VERSION_CHECK=1

stamp_ok() {  # stamp_ok DIR SPEC PYTHON_REL
    [[ -f "$1/$STAMP_NAME" && -x "$1/$3" ]] && [[ "$(cat "$1/$STAMP_NAME")" == "$2" ]]
}

find_python27() {
    if [[ -n "${PYTHON27:-}" ]]; then
        [[ -x "$PYTHON27" ]] || die "PYTHON27=$PYTHON27 is not an executable file"
        echo "$PYTHON27"; return
    fi
    local root=""
    if command -v pyenv >/dev/null 2>&1; then
        root="$(pyenv root 2>/dev/null || true)"
    fi
    local candidates=()
    [[ -n "$root" ]] && candidates+=("$root/versions/2.7.18/bin/python2.7")
    candidates+=("${PYENV_ROOT:-/root/.pyenv}/versions/2.7.18/bin/python2.7")
    local c
    for c in "${candidates[@]}"; do
        [[ -x "$c" ]] && { echo "$c"; return; }
    done
    # Any other pyenv 2.7.x, then PATH (skipping pyenv shims, which may not
    # resolve to a real 2.7 interpreter).
    for c in "${root:-${PYENV_ROOT:-/root/.pyenv}}"/versions/2.7.*/bin/python2.7; do
        [[ -x "$c" ]] && { echo "$c"; return; }
    done
    c="$(command -v python2.7 2>/dev/null || true)"
    if [[ -n "$c" && "$c" != */shims/* ]]; then echo "$c"; return; fi
    die "python2.7 not found. The Autobahn|Testsuite needs Python 2.7.
  Looked in: ${candidates[*]}, pyenv versions 2.7.*, and PATH.
  Install it (e.g. 'pyenv install 2.7.18') or set PYTHON27=/path/to/python2.7."
}

SECONDS=0

# ---------------------------------------------------------------- .venv (py3)
if stamp_ok "$VENV_DIR" "$PY3_SPEC" bin/python; then
    log ".venv is up to date ($VENV_DIR), skipping"
else
    command -v "$PYTHON3" >/dev/null 2>&1 || die "python3 not found (set PYTHON3)"
    "$PYTHON3" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
        || die "$PYTHON3 is older than Python 3.9"
    log "creating Python 3 venv at $VENV_DIR with $("$PYTHON3" --version 2>&1)"
    rm -rf "$VENV_DIR"
    "$PYTHON3" -m venv "$VENV_DIR" \
        || die "'$PYTHON3 -m venv' failed (on Debian: apt-get install python3-venv)"
    log "installing into .venv: ${PY3_PACKAGES[*]}"
    "$VENV_DIR/bin/python" -m pip install --quiet --upgrade pip
    "$VENV_DIR/bin/python" -m pip install --quiet "${PY3_PACKAGES[@]}"
    "$VENV_DIR/bin/python" -c 'import websockets, pexpect, stomp, requests, selenium, jwt, cryptography' \
        || die "packages installed into .venv do not import"
    log ".venv: websockets $("$VENV_DIR/bin/python" -c 'import websockets; print(websockets.__version__)')"
    echo "$PY3_SPEC" > "$VENV_DIR/$STAMP_NAME"
fi

# ------------------------------------------------------------ .venv27 (py2.7)
if stamp_ok "$VENV27_DIR" "$PY27_SPEC" bin/wstest; then
    log ".venv27 is up to date ($VENV27_DIR), skipping"
else
    PY27="$(find_python27)"
    "$PY27" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' \
        || die "$PY27 is not Python 2.7"
    log "using Python 2.7 at $PY27"
    # Modern virtualenv cannot create 2.7 environments; <20.22 still can.
    # It lives in .venv so nothing is installed into the system Python.
    if ! "$VENV_DIR/bin/python" -c 'import virtualenv' >/dev/null 2>&1; then
        log "installing 'virtualenv<20.22' into .venv (to build the 2.7 env)"
        "$VENV_DIR/bin/python" -m pip install --quiet 'virtualenv<20.22'
    fi
    log "creating Python 2.7 virtualenv at $VENV27_DIR"
    rm -rf "$VENV27_DIR"
    "$VENV_DIR/bin/python" -m virtualenv --quiet -p "$PY27" "$VENV27_DIR"
    log "installing into .venv27: ${PY27_PACKAGES[*]} (takes a minute or two)"
    "$VENV27_DIR/bin/python" -m pip install --quiet --no-python-version-warning \
        "${PY27_PACKAGES[@]}" 2>&1 | grep -v -i 'deprecat' || true
    [[ -x "$VENV27_DIR/bin/wstest" ]] || die "wstest was not installed into $VENV27_DIR"
    "$VENV27_DIR/bin/python" -c 'import autobahntestsuite' \
        || die "autobahntestsuite does not import in $VENV27_DIR"
    echo "$PY27_SPEC" > "$VENV27_DIR/$STAMP_NAME"
fi

log "done in ${SECONDS}s (.venv: $VENV_DIR, .venv27: $VENV27_DIR)"
