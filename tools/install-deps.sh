#!/usr/bin/env bash
# tools/install-deps.sh [build|test]: install what a fresh Debian 12 machine with Swift needs.
#   build  the C libraries the binary links, and nothing else (`make build`).
#   test   (default) the above, plus what running and testing need: the pinned Python tooling,
#          checkov, the IAM linters, two huggingface_hub versions and schemathesis in venvs of
#          their own, AWS's Runtime Interface Emulator and the tools the tests call.
# Idempotent and quiet when everything is already there.
#
# Python packages come from lock files that pin every direct and transitive dependency with the
# sha256 of its files (tools/lock-requirements.sh writes them): --require-hashes refuses anything
# else, so a tampered or substituted release on the index cannot reach CI or a developer.
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

pip_install() {
    local python=$1
    shift
    "$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore --require-hashes "$@"
}
pip_install python3 -r requirements-dev.lock

# Tools whose pins clash with requirements-dev.lock, or with each other, each in its own venv
# (.tools/NAME from requirements-NAME.lock), rebuilt when the lock file changes (the stamp is the
# lock's checksum).
lock_venv() {
    local name=$1 venv=.tools/$1 lock=requirements-$1.lock stamp
    stamp=$(sha256sum "$lock" | cut -d' ' -f1)
    if [[ "$(cat "$venv/.lock-sha256" 2>/dev/null)" != "$stamp" || ! -x "$venv/bin/python" ]]; then
        echo "install-deps: $name into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        pip_install "$venv/bin/python" -r "$lock"
        echo "$stamp" >"$venv/.lock-sha256"
    fi
}
lock_venv checkov
# cloudsplaining and parliament, the IAM scans of tests/deploy.
lock_venv iam
# huggingface_hub's InferenceClient, current and 0.27, and schemathesis: tests/e2e.
lock_venv hf-hub-2
lock_venv hf-hub-0.27
lock_venv schemathesis

tools/fetch-rie.sh >/dev/null
