#!/usr/bin/env bash
# The arm64 toolchain: a Debian 13 (trixie) root with Swift 6.0.3 (Debian's `swiftlang`), the
# aarch64 Swift standard library and the arm64 C libraries the package links and bundles.
#
#   tools/arm64-root.sh                 make the root if it is missing or stale; print its path
#   tools/arm64-root.sh --upgrade       the same, then bring its packages to trixie's newest
#   tools/arm64-root.sh run CMD [ARG]   run CMD inside the root, in /src (this repository)
#   tools/arm64-root.sh swift-build ARG  `swift build ARG` there, for aarch64-unknown-linux-gnu
#
# swift.org's toolchains and SDKs cannot be downloaded here; Debian's packages can. trixie's amd64
# `swiftlang` is a Swift 6.0.3 compiler that needs glibc >= 2.38, newer than Debian 12's, hence a
# root; its arm64 twin carries the aarch64 stdlib (modules, swift_static/linux/*.a), unpacked
# under /opt/swift-aarch64. `dpkg --add-architecture arm64` in the root brings libc6-dev:arm64,
# libssl-dev:arm64, libcurl4-openssl-dev:arm64 and the cross binutils/gcc.
#
# The root is about 5.4 GB and lives outside the repository, so CI on the same machine reuses it:
# ARM64_ROOT, default ${XDG_CACHE_HOME:-~/.cache}/summarizer-lambda/arm64-root. It is rebuilt
# only when the package list below changes (the stamp .summarizer-root holds that list); a new
# one is made beside it and renamed, so an interrupted run leaves no half-made root behind. The
# set-up steps after it are redone alone when they change (opt/swift-aarch64/.setup).
# Needs root (mmdebstrap --mode=root, chroot, bind mounts in a private mount namespace) and
# Debian 12's mmdebstrap and qemu-user-static. DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR override
# the mirrors (default: the ones this machine's apt uses, else deb.debian.org).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

root=${ARM64_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/summarizer-lambda/arm64-root}
say() { echo "arm64-root: $*" >&2; }

# Build host packages (amd64) and the arm64 libraries to link and bundle.
packages=(
    ca-certificates swiftlang libc6-dev libgcc-14-dev libstdc++-14-dev lld pkgconf make patch xz-utils dpkg-dev file
    binutils-aarch64-linux-gnu gcc-aarch64-linux-gnu
    libc6-dev:arm64 libgcc-14-dev:arm64 libstdc++-14-dev:arm64 libssl-dev:arm64 zlib1g-dev:arm64
    libcurl4-openssl-dev:arm64
)
stamp_text="trixie; ${packages[*]}"
# Then, in the root: the packages whose files are unpacked (not installed: their amd64 twins are)
# as the target stdlib, and pkg-config files for SwiftPM. libcurl.pc's Requires.private (GSS-API,
# nghttp2, ...) only matter to static linking, and SwiftPM would pass their -isystem flags on
# (and warn that it refuses them): the copy under /opt/swift-aarch64/pkgconfig has none. And a
# static arm64 busybox, for the arm64 package's chroot test (tests/package/test_chroot.py).
target_stdlib=(swiftlang:arm64 libswiftlang:arm64)
setup_script='
    apt-get update -qq
    tmp=$(mktemp -d); cd "$tmp"
    apt-get download "$@" busybox-static:arm64 >/dev/null
    rm -rf /opt/swift-aarch64 /opt/arm64-busybox; mkdir -p /opt/swift-aarch64/pkgconfig
    for deb in ./*swiftlang*.deb; do dpkg-deb -x "$deb" /opt/swift-aarch64; done
    dpkg-deb -x ./busybox-static_*.deb /opt/arm64-busybox
    cd /; rm -rf "$tmp"
    test -f /opt/swift-aarch64/usr/libexec/swift/lib/swift_static/linux/libswiftCore.a
    grep -v "^Requires.private:" /usr/lib/aarch64-linux-gnu/pkgconfig/libcurl.pc >/opt/swift-aarch64/pkgconfig/libcurl.pc
'
setup_text=$(echo "${target_stdlib[*]}; $setup_script" | sha256sum | cut -d' ' -f1)

# CMD inside root $1, with /proc, /dev, /sys and the repository (at /src) bound in a private
# mount namespace: the mounts end with the command, whatever happens to it.
in_root() {
    local dir=$1
    shift
    unshare --mount --propagation private -- /bin/sh -euc '
        dir=$1 repo=$2; shift 2
        mkdir -p "$dir/src"
        mount --rbind /proc "$dir/proc"; mount --rbind /dev "$dir/dev"; mount --rbind /sys "$dir/sys"
        mount --bind "$repo" "$dir/src"
        cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
        exec chroot "$dir" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
            TERM=dumb /bin/sh -c "cd /src && exec \"\$@\"" sh "$@"
    ' sh "$dir" "$repo" "$@"
}

[ "$(id -u)" -eq 0 ] || { say "needs root (mmdebstrap --mode=root, chroot, mount)"; exit 1; }

fresh() { [[ -f "$root/.summarizer-root" && "$(cat "$root/.summarizer-root")" == "$stamp_text" ]]; }
set_up() { [[ -f "$root/opt/swift-aarch64/.setup" && "$(cat "$root/opt/swift-aarch64/.setup")" == "$setup_text" ]]; }

if [[ "${1:-}" == run || "${1:-}" == swift-build ]]; then
    fresh && set_up || { say "$root is missing or stale: run tools/arm64-root.sh first"; exit 1; }
    if [[ "$1" == swift-build ]]; then
        # The resource directory must be swift_static when linking the stdlib statically; without
        # PKG_CONFIG_PATH SwiftPM would take the amd64 libcurl.pc and libcrypto.pc. lld, as GNU
        # ld warns about the RWX LOAD segment it makes of Swift's metadata sections.
        resources=/opt/swift-aarch64/usr/libexec/swift/lib/swift
        [[ " $* " != *" --static-swift-stdlib "* ]] || resources+=_static
        set -- env PKG_CONFIG_PATH=/opt/swift-aarch64/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig \
            swift build "${@:2}" --triple aarch64-unknown-linux-gnu -Xswiftc -resource-dir -Xswiftc "$resources" \
            -Xswiftc -use-ld=lld
    else
        shift
    fi
    in_root "$root" "$@"
    exit
fi

if ! fresh; then
    started=$SECONDS
    tools/apt-install.sh mmdebstrap qemu-user-static
    source tools/debian-apt.sh
    mirror=${DEBIAN_MIRROR:-$(debian_mirror_of bookworm)}
    mirror=${mirror:-http://deb.debian.org/debian}
    security=${DEBIAN_SECURITY_MIRROR:-$(debian_mirror_of bookworm-security)}
    security=${security:-http://deb.debian.org/debian-security}
    new="$root.new"
    rm -rf "$new"
    mkdir -p "$(dirname "$root")"
    say "making $root: trixie (amd64 + arm64) from $mirror, about 6 GB, a few minutes"
    # Man pages and docs of the multi-arch -dev packages clash between amd64 and arm64 (libpsl-dev);
    # nothing here reads them.
    mmdebstrap --mode=root --variant=apt --architectures=amd64,arm64 \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --aptopt='APT::Install-Recommends "false"' --aptopt='Acquire::Retries "3"' \
        --include="$(IFS=,; echo "${packages[*]}")" \
        trixie "$new" \
        "deb $mirror trixie main" "deb $mirror trixie-updates main" "deb $security trixie-security main" \
        >&2
    echo "$stamp_text" >"$new/.summarizer-root"
    rm -rf "$root"
    mv "$new" "$root"
    say "made $root in $(( SECONDS - started )) s"
fi
if ! set_up; then
    say "unpacking the aarch64 Swift stdlib (${target_stdlib[*]}) into $root/opt/swift-aarch64"
    in_root "$root" /bin/sh -euc "$setup_script" sh "${target_stdlib[@]}" >&2
    echo "$setup_text" >"$root/opt/swift-aarch64/.setup"
fi

if [[ "${1:-}" == --upgrade ]]; then
    # The bundled glibc, libstdc++ and OpenSSL are the root's: the newest trixie has, like
    # tools/package.sh does for the amd64 package on this machine (make audit checks the result).
    in_root "$root" /bin/sh -euc '
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -y -qq --no-install-recommends dist-upgrade >/dev/null
    ' >&2
fi
echo "$root"
