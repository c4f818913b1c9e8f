#!/usr/bin/env bash
# Installs the Debian packages Perigee builds against (and node for its tests), if any is missing.
# Used by `make run` and `make test`; safe to run again (it does nothing when all is there).
set -euo pipefail

# libstdc++-12-dev and binutils (ld.gold): the fuzz targets link libFuzzer, a C++ library.
# openssl: the TLS test (Tests/External/tls_test.py) makes its certificates with the command.
packages=(zlib1g-dev libssl-dev pkg-config libstdc++-12-dev binutils openssl "$@")
# node runs the unit tests of the browser client (web/perigee.js) in `make test`; any node on
# PATH will do, so Debian's is installed only when there is none.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
