#!/usr/bin/env bash
# Install what building, running and testing need on a fresh Debian 12 machine with Swift:
# the C libraries the binary links, the pinned Python test tooling, and AWS's Runtime
# Interface Emulator. Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# iproute2: `ip link set lo up` inside the network namespace of tests/e2e/test_dns_stall.py.
tools/apt-install.sh libcurl4-openssl-dev libssl-dev pkg-config zip unzip curl busybox-static iproute2

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements-dev.txt

tools/fetch-rie.sh >/dev/null
