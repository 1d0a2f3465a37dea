#!/usr/bin/env bash
# tools/apt-install.sh PACKAGE...: apt-get install the Debian packages that are not installed yet
# (with sudo when not root). Quiet and quick when they all are.
# tools/apt-install.sh --upgrade PACKAGE...: also bring the installed ones to Debian's newest
# version (security updates included); always asks the mirror.
set -euo pipefail
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
if [[ "${1:-}" == "--upgrade" ]]; then
    shift
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
    exit 0
fi
missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0
echo "apt-get install ${missing[*]}" >&2
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
