#!/usr/bin/env bash
# Install what building, running and testing need on a fresh Debian 12 machine with Swift:
# the C libraries the binary links, the pinned Python test tooling, and AWS's Runtime
# Interface Emulator. Idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_packages=(libcurl4-openssl-dev libssl-dev pkg-config zip unzip curl busybox-static)
missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "install-deps: apt-get install ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements-dev.txt

tools/fetch-rie.sh >/dev/null
