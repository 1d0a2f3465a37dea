#!/usr/bin/env bash
# Put AWS's Lambda Runtime Interface Emulator (RIE) at .tools/aws-lambda-rie.
#
# Why a PyPI wheel: the only network we have is PyPI, and the aws-sam-cli
# wheel ships the RIE binaries (samcli/local/rapid/aws-lambda-rie-*).
# The version is pinned so every checkout gets the same emulator, and the
# wheel's sha256 too (pip --require-hashes checks it, and this script again
# before extracting): a different file under the same name on the index is
# refused instead of run.
#
# Idempotent: does nothing if a working binary is already in place.
set -euo pipefail

SAM_VERSION=1.170.0
SAM_WHEEL_SHA256=24ebaf5ecba38dc1758089968cb89ab61e124b84e92a344fc7a2771a47f4d0bf

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$repo_root/.tools/aws-lambda-rie"

fail() { echo "fetch-rie: error: $*" >&2; exit 1; }

# The binaries inside that wheel, so one already in place is checked as well.
case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 rie_sha256=6b1e686e62ab2baf5759c412c4864276ef2a88b094fca53ec070637ccba9b9a5 ;;
    aarch64 | arm64) arch=arm64 rie_sha256=ec2e5d09633d853834c008b1ef264bf834b258a94d551d2b2074966494b39a21 ;;
    *) fail "unsupported machine type $(uname -m)" ;;
esac
member="samcli/local/rapid/aws-lambda-rie-$arch"

# The pinned binary with the execute bit.  We cannot run it as a check: the
# RIE has no --help/--version, it treats any argument as the bootstrap to
# run and starts listening on 0.0.0.0:8080.
looks_ok() {
    [[ -f "$1" && -x "$1" ]] && echo "$rie_sha256  $1" | sha256sum --check --status
}

if looks_ok "$dest"; then
    echo "fetch-rie: $dest already present"
    exit 0
fi

command -v python3 >/dev/null || fail "python3 not found"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "fetch-rie: downloading aws-sam-cli==$SAM_VERSION wheel from PyPI"
echo "aws-sam-cli==$SAM_VERSION --hash=sha256:$SAM_WHEEL_SHA256" >"$tmp/requirement.txt"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$tmp/requirement.txt" -d "$tmp" \
    || fail "pip download of aws-sam-cli==$SAM_VERSION (sha256 $SAM_WHEEL_SHA256) failed: PyPI unreachable, or the wheel is not the pinned one"

wheels=("$tmp"/aws_sam_cli-"$SAM_VERSION"-*.whl)
wheel=${wheels[0]}
[[ -f "$wheel" ]] || fail "no aws-sam-cli wheel in the pip download"
echo "$SAM_WHEEL_SHA256  $wheel" | sha256sum --check --status \
    || fail "$(basename "$wheel") has sha256 $(sha256sum "$wheel" | cut -d' ' -f1), not the pinned $SAM_WHEEL_SHA256"

# Extract the one member with the stdlib, so unzip need not be installed.
python3 - "$wheel" "$member" "$tmp/rie" <<'EOF' || fail "could not extract $member from $(basename "$wheel")"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF

chmod 0755 "$tmp/rie"
looks_ok "$tmp/rie" || fail "$member from the wheel is not the pinned binary (sha256 $rie_sha256)"

mkdir -p "$(dirname "$dest")"
# Rename into place so an interrupted run never leaves a half-written binary.
mv -f "$tmp/rie" "$dest.tmp$$"
mv -f "$dest.tmp$$" "$dest"
looks_ok "$dest" || fail "$dest is not executable after install"
echo "fetch-rie: installed $dest"
