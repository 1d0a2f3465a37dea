#!/usr/bin/env bash
# tools/install-deps.sh [build|test]: install what a fresh Debian 12 machine with Swift needs.
#   build  the C libraries the binary links, and nothing else (`make build`).
#   test   (default) the above, plus what running and testing need: the pinned Python tooling,
#          AWS's Runtime Interface Emulator and the tools the tests call.
# Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

set_name=${1:-test}
case "$set_name" in
    build | test) ;;
    *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

tools/apt-install.sh libcurl4-openssl-dev libssl-dev pkg-config
[ "$set_name" = build ] && exit 0

# iproute2: `ip link set lo up` inside the network namespace of tests/e2e/test_dns_stall.py.
tools/apt-install.sh zip unzip curl busybox-static iproute2

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements-dev.txt

tools/fetch-rie.sh >/dev/null
