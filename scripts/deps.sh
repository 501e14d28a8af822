#!/bin/sh
# Installs the Debian packages ferry needs to build and test, if any are missing.
# Idempotent and quiet when everything is present. Called by `make` and `make test`.
#   scripts/deps.sh          build + test dependencies
#   scripts/deps.sh build    build dependencies only
set -eu
BUILD_PKGS="gcc make cmake pkg-config zlib1g-dev"
TEST_PKGS="python3 python3-numpy time bc python3-torch python3-onnx python3-h5py"
pkgs="$BUILD_PKGS"
[ "${1:-all}" = build ] || pkgs="$pkgs $TEST_PKGS"

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "ferry: installing missing Debian packages:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ferry: need root (or sudo) to install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
